"""The app factory: settings, the store, OpenAPI, auth, limits, errors, metrics, headers."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from types import FunctionType
from typing import Any

import flask_smorest
from flask import Flask, Response, g, request
from flask_smorest.utils import prepare_response

from ledger import fields as ledger_fields
from ledger.scales import load_scales
from ledger.store import open_store

from . import entry_kinds, errors, request_log, search, view_service, witnessing
from .auth import SECURITY_SCHEME, authenticate, principal
from .cors import init_cors
from .fastlane import AppendLane
from .metrics import Metrics
from .ratelimit import init_rate_limits
from .resources import blueprints, docs_ui, stream
from .resources.log import CheckpointAfterAppend
from .responses import finish_response
from .schemas import ProblemSchema
from .settings import Settings
from .state import EXTENSION, LedgerState, ledger_state


class LedgerFlask(Flask):
    """Flask, remembering which functions are plain ``def``s.

    ``ensure_sync`` runs for every hook, view and flask-smorest decorator layer of every
    request; asking ``inspect`` each time is a tenth of a history request's Python.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain: set[FunctionType] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` itself when it is a plain function (or a method of one), else Flask's."""
        target = getattr(func, "__func__", func)  # bound methods are made anew per request
        if target in self._plain:
            return func
        result: Callable[..., Any] = super().ensure_sync(func)
        if result is func and type(target) is FunctionType:
            self._plain.add(target)
        return result


class LedgerApi(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api, documenting errors as RFC 9457 problems.

    Its own HTTP error handler is replaced by ``errors.register`` once blueprints are in.
    """

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, errors.PROBLEM_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "An RFC 9457 problem", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, errors.PROBLEM_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)


def _settings(config: dict[str, Any]) -> Settings:
    """Settings from the environment, overridden by upper-case setting names in ``config``."""
    settings = config.pop("LEDGER_SETTINGS", None) or Settings.from_env()
    names = {f.name for f in dataclasses.fields(Settings)}
    overrides = {k.lower(): config.pop(k) for k in list(config) if k.lower() in names}
    return dataclasses.replace(settings, **overrides) if overrides else settings


def build_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API app (see ``api.create_app``)."""
    rest = dict(config or {})
    settings = _settings(rest)
    kinds = tuple(rest.pop(entry_kinds.CONFIG, entry_kinds.ENTRY_KINDS))
    app = LedgerFlask("api")
    app.config.update(
        API_TITLE="claim ledger",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        DEBUG=False,  # FLASK_DEBUG in the environment must not turn debug mode on
        API_SPEC_OPTIONS={
            "info": {
                "description": "An event-sourced, verifiable ledger of claims. Errors are"
                " RFC 9457 problems (application/problem+json). See docs/api.md."
            },
        },
    )
    app.config.update(rest)
    app.url_map.merge_slashes = False
    entry_kinds.install(app, kinds)  # the routes, the desk's forms and the lane come from them

    store = open_store(settings.database_url, scales=load_scales(settings.scales_file))
    state = LedgerState(settings=settings, store=store, metrics=Metrics())
    state.ready_checks["store"] = state.store.ping
    app.extensions[EXTENSION] = state
    view_service.init_app(app, state)  # Redis views: reader, catch-up trigger, ready check
    search.init_app(app, state)  # the search index beside the ledger (kept by the workers)

    app.before_request(_start_request)
    app.before_request(authenticate)  # before the limiter, which counts per token
    limiter = init_rate_limits(app, settings)
    app.after_request(_finish_request)
    init_cors(app, settings)  # closed unless LEDGER_CORS_ORIGINS lists origins

    api = LedgerApi(app)
    api.spec.components.security_scheme(SECURITY_SCHEME, {"type": "http", "scheme": "bearer"})
    for field_class, kind, fmt in (
        (ledger_fields.Timestamp, "string", "date-time"),
        (ledger_fields.UUIDText, "string", "uuid"),
        (ledger_fields.HttpUrl, "string", "uri"),
        (ledger_fields.Uri, "string", "uri"),
    ):
        api.register_field(field_class, kind, fmt)
    for blueprint in blueprints(kinds):  # the OpenAPI document lists them in this order
        api.register_blueprint(blueprint)
    state.append_hooks.append(CheckpointAfterAppend())  # a checkpoint after each append
    witnessing.init_app(app, state)  # after the checkpoint hook: send new ones to witnesses
    stream.init_app(app)
    docs_ui.init_app(app)  # /docs: Swagger UI from the installed package
    from .desk import init_app as init_desk  # the desk's pages (not in the OpenAPI document)

    init_desk(app)
    errors.register(app)
    # rate limits and CORS must see every request: the lane then serves nothing
    plain = limiter is None and not settings.cors_origins
    lane = AppendLane(app, app.wsgi_app, kinds if plain else ())
    app.wsgi_app = lane  # type: ignore[method-assign]
    return app


def _start_request() -> None:
    g.started = time.perf_counter()
    g.request_id = request_log.request_id(request.headers.get("X-Request-Id"))


def _finish_request(response: Response) -> Response:
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup
    who = principal()
    finish_response(
        response.headers, response.status_code, method=req.method,
        rule=req.url_rule.rule if req.url_rule is not None else "unmatched", path=req.path,
        request_id=g.get("request_id", ""), actor=who.actor,
        credentials=who.token_id is not None or "Authorization" in req.headers,
        started=g.get("started"), metrics=ledger_state().metrics,
    )
    return response
