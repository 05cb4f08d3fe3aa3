"""JSON answers built straight from ledger objects (no second serialisation pass)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: the Content-Security-Policy of every answer but the /docs page
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: headers every answer gets unless its view set them: (lower-case name, name, value)
SECURITY_HEADERS = (
    ("x-content-type-options", "X-Content-Type-Options", "nosniff"),
    ("referrer-policy", "Referrer-Policy", "no-referrer"),
)


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response; ``body`` is already the documented shape."""
    return json_text_response(dumps(body), status, headers, mimetype)


def json_text_response(
    text: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response whose body is already JSON text."""
    response = Response(text, status=status, mimetype=mimetype)
    if headers:
        for name, value in headers.items():
            response.headers[name] = value
    return response


def etag(version: int) -> str:
    """The ``ETag`` of a claim (its state and its history) at ``version``."""
    return f'"{version}"'
