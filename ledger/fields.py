"""Marshmallow fields shared by the event schemas: bounded text, times, ids, URIs."""

from __future__ import annotations

import re
import uuid
from typing import Any

from marshmallow import ValidationError, fields, validate

from .timeutil import normalize_time

# C0 and C1 control characters (Unicode category Cc); multiline text keeps \t, \n, \r.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Anchored with \Z, not $: "$" also matches just before a trailing newline.
# URIs and URLs exclude control characters and lone surrogates (not hashable as UTF-8).
_URI = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f-\x9f\ud800-\udfff<>\"{}|\\^`]+\Z"
)
_NO_CONTROL = re.compile(r"^[^\x00-\x1f\x7f-\x9f\ud800-\udfff]*\Z")
_CANONICAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\Z")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*\Z")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*\Z")


class Text(fields.String):
    """A string of bounded length with no control characters (newlines allowed if multiline)."""

    def __init__(self, max_length: int, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        pattern = _CONTROL if self.multiline else _CONTROL_SINGLE_LINE
        if pattern.search(text):
            raise ValidationError("Control characters are not allowed.")
        if _SURROGATE.search(text):
            raise ValidationError("Not valid Unicode text (lone surrogate).")
        if not text.strip():
            raise ValidationError("Must not be blank.")
        return text


class Slug(fields.String):
    """A short lowercase identifier such as a tag, a scale or a verdict value."""

    def __init__(self, max_length: int = 50, **kwargs: Any) -> None:
        super().__init__(
            validate=[
                validate.Length(min=1, max=max_length),
                validate.Regexp(_SLUG, error="Use lowercase letters, digits, '.', '_' or '-'."),
            ],
            **kwargs,
        )


class LanguageTag(fields.String):
    """A BCP 47 language tag such as ``en`` or ``fa-IR``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=[
                validate.Length(min=2, max=35),
                validate.Regexp(_LANGUAGE, error="Not a BCP 47 language tag."),
            ],
            **kwargs,
        )


class Timestamp(fields.String):
    """An RFC 3339 date-time with a zone, normalised to ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 40:
            raise ValidationError("Not an RFC 3339 date-time.")
        try:
            canonical = normalize_time(text)
        except ValueError as exc:
            detail = str(exc).removeprefix("not an RFC 3339 date-time with a time zone")
            message = "Not an RFC 3339 date-time with a time zone"
            raise ValidationError(f"{message}{': ' + detail if detail else ''}.") from None
        if not _CANONICAL_TIME.match(canonical):
            raise ValidationError("Out of range once converted to UTC.")
        return canonical


class UUIDText(fields.String):
    """A UUID, normalised to its lowercase hyphenated form."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > 45:
            raise ValidationError("Not a valid UUID.")
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ValidationError("Not a valid UUID.") from None


class HttpUrl(fields.String):
    """An absolute http(s) URL of bounded length."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=[
                validate.Length(max=2048),
                validate.URL(schemes={"http", "https"}, require_tld=False),
                validate.Regexp(_NO_CONTROL, error="Control characters or invalid Unicode."),
            ],
            **kwargs,
        )


class Uri(fields.String):
    """An absolute URI (for ``same_as``: a Wikidata item, an ORCID, a URN)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=[
                validate.Length(max=2048),
                validate.Regexp(_URI, error="Not an absolute URI."),
            ],
            **kwargs,
        )
