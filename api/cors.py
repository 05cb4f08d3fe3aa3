"""Cross-origin requests: closed unless ``LEDGER_CORS_ORIGINS`` lists the browser origins.

Only listed origins get ``Access-Control-Allow-Origin`` (their own origin, never ``*``),
and only their preflights are granted. Credentials are bearer tokens a script sends
itself, so ``Access-Control-Allow-Credentials`` is never set.
"""

from __future__ import annotations

from flask import Flask, Response, request

from .settings import Settings

ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"
ALLOW_HEADERS = (
    "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id"
)
EXPOSE_HEADERS = "ETag, Location, Retry-After, X-Request-Id, Idempotency-Replayed"
#: seconds a browser may cache a granted preflight
MAX_AGE = "600"


def init_cors(app: Flask, settings: Settings) -> None:
    """Answer listed origins' cross-origin requests and preflights; nothing when none listed."""
    allowed = frozenset(settings.cors_origins)
    if not allowed:
        return

    def add_headers(response: Response) -> Response:
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin not in allowed:
            return response
        headers = response.headers
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    app.after_request(add_headers)
