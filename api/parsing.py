"""Reading requests strictly: JSON bodies, ``If-Match``, ``If-None-Match``, ``Idempotency-Key``.

Malformed input becomes a precise problem (400, 412, 415) instead of a guess, and no
input, however deep or large, can raise anything but a problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from flask import Request
from marshmallow import EXCLUDE, Schema, fields, missing
from webargs import core
from webargs.flaskparser import FlaskParser

from ledger import jsontext

from .errors import Problem

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")

#: the longest Idempotency-Key the contract allows
MAX_IDEMPOTENCY_KEY = 200
_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
# RFC 9110 entity-tag: optional W/, then an opaque quoted string of etagc characters
_ETAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*')
# a claim's ETag: its version, then "-rK" once K of its payloads were redacted
_VERSION = re.compile(r"(0|[1-9][0-9]{0,17})(?:-r[1-9][0-9]{0,17})?(?:-l[0-9a-f]{12})?")
_UNSET: Any = object()
#: ``unknown`` as webargs passes it when a view does not choose one (EXCLUDE for both)
_UNKNOWN_OK = (core._UNKNOWN_DEFAULT_PARAM, EXCLUDE)


def parse_json(raw: bytes) -> Any:
    """Parse a JSON body strictly (``ledger.jsontext``); anything refused is a 400 problem."""
    if not raw.strip():
        raise Problem(400, "The request needs a JSON body.", slug="malformed-json")
    try:
        return jsontext.loads(raw)
    except jsontext.JSONTextError as exc:
        raise Problem(400, f"The body is not valid JSON: {exc}.", slug="malformed-json") from None


#: loads one location of a request without webargs; None when webargs must do it
FastLoad = Callable[[Request], "dict[str, Any] | None"]


def _headers_loader(schema: Schema) -> FastLoad | None:
    """Plain optional string headers: exactly what webargs and marshmallow would load."""
    pairs = []
    for name, field in schema.load_fields.items():
        plain = type(field) is fields.String and field.load_default is missing
        if not plain or field.validators or field.required:
            return None
        pairs.append((name, field.data_key or name))

    def load(req: Request) -> dict[str, Any]:
        headers = req.headers
        return {name: value for name, key in pairs if (value := headers.get(key)) is not None}

    return load


def _empty_query_loader(schema: Schema) -> FastLoad | None:
    """An empty query string: the fields' defaults (an absent optional field is left out)."""
    defaults: list[tuple[str, Any]] = []
    for name, field in schema.load_fields.items():
        if field.required:
            return None
        if field.load_default is not missing:
            defaults.append((name, field.load_default))

    def load(req: Request) -> dict[str, Any] | None:
        if req.environ.get("QUERY_STRING"):
            return None
        return {name: value() if callable(value) else value for name, value in defaults}

    return load


_LOADERS = {"headers": _headers_loader, "query": _empty_query_loader}


class LedgerParser(FlaskParser):
    """webargs parser: JSON bodies need a JSON content type (else 415) and must parse (else 400).

    Plain header schemas and empty query strings skip webargs and marshmallow (see
    ``_LOADERS``): they are read on every request and cannot fail validation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fast: dict[tuple[Any, str], FastLoad | None] = {}

    def parse(self, argmap: Any, req: Request | None = None, **kwargs: Any) -> Any:
        """webargs' ``parse``, short-cut for the schemas ``_LOADERS`` can read alone."""
        location = kwargs.get("location") or self.location
        if (
            kwargs.get("validate") is None
            and kwargs.get("unknown", EXCLUDE) in _UNKNOWN_OK
            and self.unknown in _UNKNOWN_OK
            and isinstance(argmap, Schema | type)
        ):
            key = (argmap, location)
            loader = self._fast.get(key, _UNSET)
            if loader is _UNSET:
                loader = self._fast[key] = self._fast_loader(argmap, location)
            if loader is not None:
                loaded = loader(req if req is not None else self.get_default_request())
                if loaded is not None:
                    return loaded
        return super().parse(argmap, req, **kwargs)

    @staticmethod
    def _fast_loader(argmap: Any, location: str) -> FastLoad | None:
        make = _LOADERS.get(location)
        if make is None:
            return None
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            argmap = argmap()
        if not isinstance(argmap, Schema) or argmap.many or any(argmap._hooks.values()):
            return None  # pre/post-load hooks and schema validators need marshmallow
        return make(argmap)

    def _raw_load_json(self, req: Request) -> Any:
        if not core.is_json(req.mimetype):
            raise Problem(
                415,
                "Send the body as application/json.",
                slug="unsupported-media-type",
                headers={"Accept-Post": "application/json"},
            )
        return parse_json(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose arguments are read by ``LedgerParser`` (typed for mypy)."""

    ARGUMENTS_PARSER = LedgerParser()

    def route(self, rule: str, **options: Any) -> Callable[[V], V]:
        """Register a MethodView (see flask-smorest)."""
        decorator: Callable[[V], V] = super().route(rule, **options)
        return decorator

    def arguments(self, schema: Any, **options: Any) -> Callable[[F], F]:
        """Parse and document arguments (see flask-smorest)."""
        decorator: Callable[[F], F] = super().arguments(schema, **options)
        return decorator

    def response(self, status: int, schema: Any = None, **options: Any) -> Callable[[F], F]:
        """Document (and, unless a Response is returned, serialise) an answer."""
        decorator: Callable[[F], F] = super().response(status, schema, **options)
        return decorator

    def alt_response(self, status: int, **options: Any) -> Callable[[F], F]:
        """Document another answer."""
        decorator: Callable[[F], F] = super().alt_response(status, **options)
        return decorator

    @staticmethod
    def doc(**kwargs: Any) -> Callable[[F], F]:
        """Add to an operation's OpenAPI document."""
        decorator: Callable[[F], F] = flask_smorest.Blueprint.doc(**kwargs)
        return decorator


#: the largest event position (positions are signed 64-bit integers in both stores)
MAX_POSITION = 2**63 - 1
_POSITION = re.compile(r"[0-9]{1,19}")


def position(value: str | int | None, name: str) -> int | None:
    """An event position (``after``, ``Last-Event-ID``): 0 to 2^63-1, else a 400 problem.

    None or blank text is None (not given). Text must be plain ASCII digits.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        number = int(text) if _POSITION.fullmatch(text) else -1
    else:
        number = value
    if not 0 <= number <= MAX_POSITION:
        raise Problem(
            400,
            f"{name} must be an event position: a whole number from 0 to {MAX_POSITION}.",
            slug="malformed-position",
        )
    return number


def if_match(header: str | None) -> int | None:
    """The claim version an ``If-Match`` header names; None when absent or ``*``.

    Syntax errors are a 400; well-formed entity-tags that cannot be a claim version
    (weak tags, other opaque tags) can never match, so they are a 412. Several
    versions in one header are a 400, since an append checks exactly one.
    """
    if header is None or header.strip() == "*":
        return None
    versions: set[int] = set()
    for part in header.split(","):
        match = _ETAG.fullmatch(part)
        if match is None:
            raise Problem(
                400,
                'If-Match must be a quoted claim version such as "3" (or *).',
                slug="malformed-if-match",
            )
        weak, tag = match.groups()
        version = None if weak else _VERSION.fullmatch(tag)
        if version is not None:
            versions.add(int(version.group(1)))
    if not versions:
        raise Problem(
            412,
            "No entity-tag in If-Match can match: the claim's ETag is its version, e.g. \"3\".",
            slug="version-mismatch",
        )
    if len(versions) > 1:
        raise Problem(400, "If-Match may name only one claim version.", slug="malformed-if-match")
    return versions.pop()


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` matches ``etag`` (weak comparison, as RFC 9110 says)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    for part in header.split(","):
        match = _ETAG.fullmatch(part)
        if match is not None and f'"{match.group(2)}"' == etag:
            return True
    return False


def idempotency_key(header: str | None) -> str | None:
    """A valid ``Idempotency-Key`` (1-200 printable ASCII characters), or a 400."""
    if header is None:
        return None
    if len(header) > MAX_IDEMPOTENCY_KEY or _KEY.fullmatch(header) is None:
        raise Problem(
            400,
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters.",
            slug="malformed-idempotency-key",
        )
    return header
