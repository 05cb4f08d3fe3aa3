"""The request-parsing short cuts answer exactly what webargs and marshmallow would."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from marshmallow import Schema, fields, post_load
from webargs.flaskparser import FlaskParser

from api import create_app
from api.parsing import LedgerParser

NO_REDIS = "redis://127.0.0.1:1/0"

#: requests every header and query schema of the app is read from
REQUESTS: list[dict[str, Any]] = [
    {},
    {"headers": {"If-Match": '"3"', "Idempotency-Key": "k-1", "If-None-Match": 'W/"2", "3"'}},
    {"headers": {"If-Match": "", "Idempotency-Key": " spaced ", "Last-Event-ID": "17"}},
    {"query_string": ""},
    {"query_string": "proofs=true&as_of=2014-09-15T09:00:00Z&limit=5&after=3&min_position=2"},
    {"query_string": "proofs=maybe&limit=0"},
    {"query_string": "&"},
]


def _declared_arguments(app: Flask) -> list[tuple[Any, str]]:
    """Every (schema, location) the app's views declare for headers or the query string."""
    found = []
    for view in app.view_functions.values():
        view_class = getattr(view, "view_class", None)
        handlers = [getattr(view_class, m, None) for m in ("get", "post")] if view_class else [view]
        for handler in handlers:
            doc = getattr(handler, "_apidoc", {}).get("arguments", {})
            for parameter in doc.get("parameters", []):
                if parameter["in"] in ("headers", "query"):
                    found.append((parameter["schema"], parameter["in"]))
    return found


def _parse(
    parser: FlaskParser, app: Flask, argmap: Any, location: str,
    options: dict[str, Any] | None = None, **request: Any,
) -> Any:
    with app.test_request_context("/", **request):
        try:
            return parser.parse(argmap, location=location, **(options or {}))
        except Exception as exc:  # compare the failure too: same type, same messages
            return (type(exc).__name__, getattr(exc, "messages", None))


def test_every_declared_header_and_query_schema_parses_as_webargs_would(tmp_path: Any) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/l.db", "REDIS_URL": NO_REDIS})
    declared = _declared_arguments(app)
    assert len(declared) >= 10
    fast, plain = LedgerParser(), FlaskParser()
    for argmap, location in declared:
        for request in REQUESTS:
            expected = _parse(plain, app, argmap, location, **request)
            assert _parse(fast, app, argmap, location, **request) == expected, (argmap, request)


def test_an_explicit_unknown_policy_is_left_to_webargs() -> None:
    from marshmallow import RAISE

    from api.schemas import ReadHeadersSchema

    app, schema, headers = Flask("t"), ReadHeadersSchema(), {"If-None-Match": '"1"'}
    fast = _parse(LedgerParser(), app, schema, "headers", {"unknown": RAISE}, headers=headers)
    plain = _parse(FlaskParser(), app, schema, "headers", {"unknown": RAISE}, headers=headers)
    assert fast == plain
    assert isinstance(plain, tuple)  # RAISE refuses the request's other headers


def test_the_short_cut_is_taken_for_plain_headers_and_empty_queries(tmp_path: Any) -> None:
    from api.schemas import HistoryQuerySchema, ReadHeadersSchema, WriteHeadersSchema

    parser = LedgerParser()
    for schema, location in (
        (ReadHeadersSchema(), "headers"),
        (WriteHeadersSchema, "headers"),
        (HistoryQuerySchema(), "query"),
    ):
        assert parser._fast_loader(schema, location) is not None


class _Hooked(Schema):
    name = fields.String(data_key="X-Name")

    @post_load
    def upper(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {k: v.upper() for k, v in data.items()}


class _Checked(Schema):
    name = fields.String(data_key="X-Name", required=True)
    size = fields.Integer(data_key="X-Size")


@pytest.mark.parametrize("schema", [_Hooked(), _Checked()])
def test_schemas_with_hooks_or_checks_are_left_to_webargs(schema: Schema) -> None:
    app = Flask("t")
    assert LedgerParser._fast_loader(schema, "headers") is None
    headers = {"X-Name": "a", "X-Size": "x"}
    got = _parse(LedgerParser(), app, schema, "headers", headers=headers)
    assert got == _parse(FlaskParser(), app, schema, "headers", headers=headers)
