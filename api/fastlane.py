"""The append lane: one-event appends to a claim, served without Flask's request machinery.

A ``POST /v1/claims/{id}/notes`` (or any other of the app's entry kinds) spends
most of its Python in werkzeug routing, Flask's contexts and hooks, webargs and
flask-smorest, not in the append. This WSGI middleware, in front of the app, serves such
a request itself when it is plain: a known entry path, a JSON body whose Content-Length
is within the limit, a bearer token with the view's role, and headers and a body that
validate. It uses the pieces the view uses (``bearer_principal``, ``if_match``,
``idempotency_key``, ``parse_json``, the entry kind's ``schema``, ``append_entry``) and
finishes its 201 with the app's ``finish_response``: the same headers, metrics and log line.

Every other request goes to the app untouched, and so does every request the lane finds
anything wrong with before it appends: the app then answers the precise problem, so the
lane has no error answers of its own. Once the store has been called, an error is
answered by the app's own error handlers, never by handing the request on, which could
append twice. The lane stands aside entirely when the app is built with rate limits or
CORS, so their hooks see every request.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, g
from marshmallow import ValidationError

from . import request_log
from .appending import append_entry, created_headers
from .auth import bearer_principal
from .entry_kinds import EntryKind
from .errors import Problem
from .parsing import idempotency_key, if_match, parse_json
from .responses import dumps, finish_response
from .schemas import EventBodySchema
from .state import EXTENSION, LedgerState

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_UUID = "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_ENTRY_PATH = re.compile(f"/v1/claims/({_UUID})/([a-z]+)")
_LENGTH = re.compile(r"[1-9][0-9]{0,9}")
_CREATED = "201 CREATED"  # as werkzeug words it


@dataclass(frozen=True)
class EntryRoute:
    """An entry endpoint the lane serves: its URL rule, body schema and required role."""

    rule: str
    schema: EventBodySchema
    role: str


class AppendLane:
    """WSGI middleware serving plain one-event appends; everything else goes to ``wsgi_app``.

    ``kinds`` are the entry kinds it serves: the app's own, or none when the app has
    request hooks that must see every request (rate limits, CORS).
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp, kinds: Sequence[EntryKind]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        #: the app's state, held here: the lane reads it without a context lookup each time
        self.state: LedgerState = app.extensions[EXTENSION]
        #: appends this lane answered itself (in this process)
        self.served = 0
        self._routes = {k.kind: EntryRoute(k.rule, k.schema(), k.role) for k in kinds}

    def routes(self) -> dict[str, EntryRoute]:
        """What the lane serves, by entry kind."""
        return self._routes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve a plain append here, or hand the request to the app."""
        if environ.get("REQUEST_METHOD") == "POST" and not environ.get("SCRIPT_NAME"):
            match = _ENTRY_PATH.fullmatch(environ.get("PATH_INFO", ""))
            route = self._routes.get(match.group(2)) if match is not None else None
            if match is not None and route is not None:
                raw = self._body(environ)
                if raw is not None:
                    environ["wsgi.input"] = io.BytesIO(raw)  # the app reads it, if it answers
                    answer = self._serve(environ, start_response, route, match.group(1), raw)
                    if answer is not None:
                        return answer
        return self.wsgi_app(environ, start_response)

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """A JSON body with a Content-Length within the limit; None to leave it to the app."""
        kind = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        if kind != "application/json" or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        if _LENGTH.fullmatch(length) is None:
            return None
        size = int(length)
        limit = self.app.config.get("MAX_CONTENT_LENGTH")
        if limit is not None and size > limit:
            return None
        raw: bytes = environ["wsgi.input"].read(size)
        if len(raw) != size:  # the client sent less: the app reads what there is
            environ["wsgi.input"] = io.BytesIO(raw)
            return None
        return raw

    def _serve(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        route: EntryRoute,
        claim: str,
        raw: bytes,
    ) -> Iterable[bytes] | None:
        """The 201 of a plain append, an error the app words after the store was called,
        or None when the request is not plain (nothing was written)."""
        started = time.perf_counter()
        header = environ.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        try:
            expected = if_match(environ.get("HTTP_IF_MATCH"))
            key = idempotency_key(environ.get("HTTP_IDEMPOTENCY_KEY"))
            data = parse_json(raw)
        except Problem:
            return None
        state = self.state
        with self.app.app_context():
            who = bearer_principal(header, state.store)
            if who is None or not who.may(route.role):
                return None
            try:
                body = route.schema.load(data)
            except ValidationError:
                return None
            g.started, g.principal = started, who
            g.request_id = request_id = request_log.request_id(environ.get("HTTP_X_REQUEST_ID"))
            claim_id = claim.lower()  # _ENTRY_PATH matched the canonical form
            try:
                event, fresh = append_entry(
                    (route.rule, {"claim_id": claim_id}),
                    route.schema.event_type, claim_id, body, expected, key,
                    (state, who, request_id),
                )
            except Exception as exc:  # the app words it; the request is never run again
                return self._error(environ, start_response, exc)
            text = dumps(event.to_json()).encode("utf-8")
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(text))),
                *created_headers(event, fresh).items(),
            ]
            finish_response(
                headers, 201, method="POST", rule=route.rule, path=environ["PATH_INFO"],
                request_id=request_id, actor=who.actor, credentials=True, started=started,
                metrics=state.metrics,
            )
        self.served += 1
        start_response(_CREATED, headers)
        return [text]

    def _error(
        self, environ: dict[str, Any], start_response: StartResponse, error: Exception
    ) -> Iterable[bytes]:
        """Answer ``error`` as the app would have (its handlers, its after-request hooks)."""
        app = self.app
        with app.request_context(environ):  # keeps the app context's g: principal, request id
            try:
                response = app.finalize_request(app.handle_user_exception(error))
            except Exception as unhandled:
                response = app.handle_exception(unhandled)
            return response(environ, start_response)
