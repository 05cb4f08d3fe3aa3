"""Reading requests strictly: JSON bodies, ``If-Match``, ``If-None-Match``, ``Idempotency-Key``.

Malformed input becomes a precise problem (400, 412, 415) instead of a guess, and no
input, however deep or large, can raise anything but a problem.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from flask import Request
from webargs import core
from webargs.flaskparser import FlaskParser

from .errors import Problem

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")

#: the longest Idempotency-Key the contract allows
MAX_IDEMPOTENCY_KEY = 200
_KEY = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
# RFC 9110 entity-tag: optional W/, then an opaque quoted string of etagc characters
_ETAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*')
_VERSION = re.compile(r"0|[1-9][0-9]{0,17}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a JSON body; anything malformed (or NaN, or absurdly deep) is a 400 problem."""
    if not raw.strip():
        raise Problem(400, "The request needs a JSON body.", slug="malformed-json")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise Problem(400, "The JSON body is nested too deeply.", slug="malformed-json") from None
    except UnicodeDecodeError:
        raise Problem(400, "The body is not valid UTF-8.", slug="malformed-json") from None
    except json.JSONDecodeError as exc:
        raise Problem(
            400,
            f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
            slug="malformed-json",
        ) from None
    except ValueError as exc:  # NaN/Infinity, integers with too many digits
        raise Problem(400, f"The body is not valid JSON: {exc}.", slug="malformed-json") from None


class LedgerParser(FlaskParser):
    """webargs parser: JSON bodies need a JSON content type (else 415) and must parse (else 400)."""

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
        if not weak and _VERSION.fullmatch(tag):
            versions.add(int(tag))
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
