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
    return json_text_response(_dumps(body), status, headers, mimetype)


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
