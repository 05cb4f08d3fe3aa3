"""JSON answers built straight from ledger objects (no second serialisation pass)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response; ``body`` is already the documented shape."""
    response = Response(_dumps(body), status=status, mimetype=mimetype)
    if headers:
        for name, value in headers.items():
            response.headers[name] = value
    return response


def json_text_response(text: str, headers: Mapping[str, str] | None = None) -> Response:
    """A 200 JSON response whose body is already JSON text."""
    response = Response(text, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def etag(version: int) -> str:
    """The ``ETag`` of a claim (its state and its history) at ``version``."""
    return f'"{version}"'
