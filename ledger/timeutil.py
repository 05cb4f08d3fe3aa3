"""Times as the ledger stores and hashes them: UTC, microseconds, ``...ffffffZ``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
    r"([Zz]|[+-]\d{2}:\d{2})$"
)


def format_time(value: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    if value.tzinfo is UTC:
        # every append stamps its time: isoformat is the same text, a third cheaper
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    if value.tzinfo is None:
        raise ValueError("naive datetime: a time zone is required")
    v = value.astimezone(UTC)
    # not strftime: its %Y does not zero-pad years before 1000 on every platform
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:"
        f"{v.second:02d}.{v.microsecond:06d}Z"
    )


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 date-time that carries a zone; returns an aware UTC datetime.

    Fractions beyond microseconds are truncated, since the ledger keeps microseconds.
    """
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError("not an RFC 3339 date-time with a time zone")
    frac = match.group(7) or ""
    digits = (frac[1:] + "000000")[:6] if frac else "000000"
    zone = match.group(8)
    zone = "+00:00" if zone in ("Z", "z") else zone
    base = f"{match.group(1)}-{match.group(2)}-{match.group(3)}T{match.group(4)}:"
    base += f"{match.group(5)}:{match.group(6)}.{digits}{zone}"
    try:
        return datetime.fromisoformat(base).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"invalid date-time: {exc}") from None


def normalize_time(text: str) -> str:
    """Return the canonical UTC form of an RFC 3339 date-time string."""
    return format_time(parse_time(text))


def utcnow() -> datetime:
    """The current time, aware, in UTC, truncated to microseconds."""
    return datetime.now(UTC)


#: the whole second ``now_text`` last formatted, and its text up to the seconds
_second: tuple[int, str] = (-1, "")


def now_text(clock: Callable[[], int] = time.time_ns) -> str:
    """``format_time(utcnow())``, in fewer steps: the same clock (nanoseconds since the
    epoch) floored to microseconds as ``datetime.now`` floors it, each second's text
    formatted once."""
    global _second
    seconds, micros = divmod(clock() // 1000, 1_000_000)
    second = _second
    if second[0] != seconds:
        second = _second = (seconds, format_time(datetime.fromtimestamp(seconds, UTC))[:19])
    return f"{second[1]}.{micros:06d}Z"
