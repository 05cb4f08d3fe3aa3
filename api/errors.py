"""RFC 9457 problem details for every error the API can answer, whatever the input.

Every error leaves as ``application/problem+json`` with ``type``, ``title``, ``status``
and ``detail`` (and ``errors`` by field path for validation failures): routing errors,
bodies too large, wrong content types, malformed JSON, validation, ledger errors and
anything unexpected. Never an HTML page, never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import (
    ClaimNotFound,
    ConcurrencyConflict,
    EventNotFound,
    IdempotencyConflict,
    LedgerError,
    MalformedLine,
    StoreNotEmpty,
    StoreUnavailable,
    ValidationFailed,
)
from ledger.identity import IdentityError

PROBLEM_TYPE = "application/problem+json"
#: problem ``type`` URIs are this base plus a slug; the slugs are listed in docs/api.md
PROBLEM_BASE = "https://claimledger.local/problems/"
#: seconds a client should wait before retrying when the store is unavailable
RETRY_AFTER_SECONDS = 1
#: how much of an oversized body is read and discarded so the client can see the 413
_DRAIN_LIMIT = 64 * 1024 * 1024

log = logging.getLogger("api.errors")


class Problem(HTTPException):
    """An error answered as a problem document; raise it from anywhere in a request."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.code = status
        self.slug = slug
        self.title = title
        self.errors = errors
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """A ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug if slug else "about:blank",
        "title": title or _phrase(status),
        "status": status,
        "detail": detail or _phrase(status),
    }
    if errors:
        body["errors"] = dict(errors)
    body.update(extensions)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = Response(
        # a lone surrogate echoed from the request (an unknown key) cannot be UTF-8: it is
        # written as the JSON escape it came in as, which backslashreplace produces
        text.encode("utf-8", "backslashreplace"),
        status=status,
        mimetype=PROBLEM_TYPE,
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow's nested messages into ``{"a.b.0": [...]}``; the root is ``body``."""
    flat: dict[str, list[str]] = {}

    def walk(path: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                name = path if key == "_schema" else (f"{path}.{key}" if path else str(key))
                walk(name, value)
        else:
            items = node if isinstance(node, list) else [node]
            flat.setdefault(path or "body", []).extend(str(m) for m in items)

    walk(prefix, messages)
    return flat


def body_paths(errors: Mapping[str, Any]) -> dict[str, Any]:
    """Ledger error paths (``data.claimant.name``) as paths in a write's JSON body."""
    mapped: dict[str, Any] = {}
    for key, value in errors.items():
        name = "body" if key == "data" else key.removeprefix("data.")
        mapped[name] = value
    return mapped


def handle_http_exception(error: HTTPException) -> BaseResponse:
    """Routing errors, aborts, webargs validation and our own ``Problem``s."""
    status = error.code or 500
    if status < 400:  # redirects and the like are not errors
        return error.get_response()
    if isinstance(error, Problem):
        return problem_response(
            status,
            error.description,
            slug=error.slug,
            title=error.title,
            errors=error.errors,
            headers=error.headers,
            **error.extensions,
        )
    headers = {k: v for k, v in error.get_headers() if k.lower() in ("allow", "retry-after")}
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        # webargs: {"json": {...}, "query": {...}}; field paths need no location prefix
        errors: dict[str, list[str]] = {}
        for location, messages in data["messages"].items():
            root = "body" if location == "json" else location
            for key, value in flatten(messages).items():
                errors[root if key == "body" else key] = value
        return problem_response(
            422, "The request failed validation.", slug="validation-failed", errors=errors
        )
    if status == 413:
        _drain()
        limit = request.max_content_length
        detail = f"The request body is larger than {limit} bytes." if limit else None
        return problem_response(413, detail, slug="body-too-large")
    return problem_response(status, _detail(error), headers=headers)


def _detail(error: HTTPException) -> str | None:
    if error.code == 404:
        return "There is nothing at this URL (or the claim id is not a UUID)."
    if error.code == 405:
        return f"{request.method} is not allowed here."
    return error.description


def _drain() -> None:
    """Read and discard a rejected body, so the client gets to read our answer."""
    length = request.content_length
    if length is None or length > _DRAIN_LIMIT:
        return
    stream = request.environ.get("wsgi.input")
    try:
        while length > 0 and stream is not None:
            chunk = stream.read(min(length, 65536))
            if not chunk:
                break
            length -= len(chunk)
    except OSError:
        pass


def handle_ledger_error(error: LedgerError) -> Response:
    """The ledger's exceptions as problems: 404, 409, 412, 422 and 503."""
    if isinstance(error, ValidationFailed):
        return problem_response(
            422, str(error), slug="validation-failed", errors=error.errors or None
        )
    if isinstance(error, MalformedLine):
        return problem_response(400, f"The {error!s}.", slug="malformed-ndjson")
    if isinstance(error, ClaimNotFound | EventNotFound):
        slug = "claim-not-found" if isinstance(error, ClaimNotFound) else "event-not-found"
        return problem_response(404, str(error), slug=slug)
    if isinstance(error, ConcurrencyConflict):
        return problem_response(
            412,
            f"The claim is at version {error.actual}, not the version {error.expected}"
            " named in If-Match.",
            slug="version-mismatch",
            headers={"ETag": f'"{error.actual}"'},
            current_version=error.actual,
        )
    if isinstance(error, IdempotencyConflict):
        return problem_response(
            409,
            "This Idempotency-Key was already used with a different request.",
            slug="idempotency-key-reused",
        )
    if isinstance(error, StoreNotEmpty):
        return problem_response(409, str(error), slug="store-not-empty")
    if isinstance(error, StoreUnavailable):
        log.error("store unavailable: %s", error)
        return problem_response(
            503,
            "The event store is unavailable; retry shortly.",
            slug="store-unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(error, IdentityError):  # a key rotated away while this host ran
        log.error("log unavailable: %s", error)
        return problem_response(
            503, "This host's signing key is no longer the log's; it must be restarted.",
            slug="log-unavailable",
        )
    log.error("ledger error: %r", error)
    return problem_response(500, "The ledger failed to answer this request.")


def handle_unexpected(error: Exception) -> BaseResponse:
    """Anything else: logged with its traceback here, a bare 500 for the client."""
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_response(500, "The server failed to answer this request.")


def register(app: Flask) -> None:
    """Install the problem handlers (flask-smorest's own HTTP handler is replaced too)."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(LedgerError, handle_ledger_error)
    app.register_error_handler(Exception, handle_unexpected)
