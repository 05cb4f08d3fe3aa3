"""Dates as editors write them, turned into the API's strict RFC 3339.

A desk time field is a native date input, a time input and the form's time zone (an
IANA name such as ``Asia/Tehran``, ``UTC`` or an offset such as ``+04:30``). A date
without a time is the start of that day in the zone. The zone an editor last used is
remembered in a cookie. Text typed where a browser has no date picker is read too:
``2014-09-16``, ``16/09/2014``, ``16 Sep 2014`` (with or without a time). Before a
date in the future or years away from the rest of the claim is saved, the desk asks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ledger.timeutil import format_time, parse_time

#: the cookie that remembers an editor's time zone (scoped to /desk)
ZONE_COOKIE = "claimledger_desk_tz"
DEFAULT_ZONE = "UTC"
EXAMPLE = "16 Sep 2014 10:00"
#: a date this far from every other date of the claim is checked with the editor
FAR = timedelta(days=365)
#: a date later than now by more than this is "in the future"
SLACK = timedelta(minutes=10)

_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?")
_DAY_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d %b %Y", "%d %B %Y", "%b %d %Y",
                "%B %d %Y", "%d %b, %Y", "%b %d, %Y", "%B %d, %Y")
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M%p", "%I%p", "%I %p")
#: longer than any IANA zone name (the longest is about 30 characters)
ZONE_MAX = 64


class DateError(ValueError):
    """What is wrong with a date, in words for the editor."""


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zone names this machine knows, UTC first (the page's suggestions)."""
    names = sorted(n for n in available_timezones() if "/" in n and not n.startswith(
        ("Etc/", "SystemV/", "US/", "posix/", "right/")))
    return ("UTC", *names)


def zone_of(name: str) -> tzinfo:
    """The zone called ``name`` (IANA, ``UTC``, or an offset ``+04:30``)."""
    name = name.strip()
    if name.upper() in ("", "UTC", "Z", "GMT"):
        return UTC
    found = _OFFSET.fullmatch(name)
    if found:
        hours, minutes = int(found.group(2)), int(found.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise DateError(f"“{name}” is not a time zone offset (at most ±14:00).")
        delta = timedelta(hours=hours, minutes=minutes)
        return timezone(-delta if found.group(1) == "-" else delta)
    try:
        if len(name) > ZONE_MAX or name not in _known_zones():
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        shown = name if len(name) <= 40 else name[:40] + "…"
        raise DateError(f"“{shown}” is not a time zone; pick one such as UTC or"
                        " Asia/Tehran, or write an offset such as +04:30.") from exc


@cache
def _known_zones() -> frozenset[str]:
    """Every zone name ZoneInfo knows: anything else (a directory such as ``Asia``, a name
    too long for the file system) is no zone, and is never looked up as a file."""
    return frozenset(available_timezones())


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\b(sep)t\b", r"\1", text, flags=re.IGNORECASE)).strip()


def parse_day(text: str) -> date:
    """A day as written: ``2014-09-16``, ``16/09/2014``, ``16 Sep 2014``, ``Sep 16, 2014``."""
    cleaned = _normal(text)
    for pattern in _DAY_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise DateError(f"“{text.strip()}” is not a date with a day, a month and a year,"
                    f" e.g. {EXAMPLE[:11]}.")


def parse_clock(text: str) -> time:
    """A time of day as written: ``10:00``, ``10:00:30``, ``10:00 AM``, ``10pm``."""
    cleaned = _normal(text).upper()
    for pattern in _TIME_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).time()
        except ValueError:
            continue
    raise DateError(f"“{text.strip()}” is not a time of day, e.g. 10:00.")


@dataclass(frozen=True)
class Moment:
    """A time the desk read: its RFC 3339 text, and how it was read, in words."""

    rfc3339: str
    shown: str
    day_only: bool = False


def _split(text: str) -> tuple[str, str]:
    """A typed date-and-time split into its day and its time (the time may be empty)."""
    found = re.fullmatch(r"(.*?)[ T,]+(\d{1,2}(?::\d{2}){0,2}\s*(?:[ap]\.?m\.?)?)", text.strip(),
                         re.IGNORECASE)
    if found and re.search(r"\d{4}", found.group(1)):
        return found.group(1), found.group(2).replace(".", "")
    return text, ""


def compose(day: str, clock: str, zone: str) -> Moment | None:
    """The moment a date, a time and a zone stand for (None when all are blank).

    A full RFC 3339 time typed in the date box is taken as it is (its own zone wins);
    a date without a time is the start of that day in the zone."""
    day, clock = day.strip(), clock.strip()
    if not day and not clock:
        return None
    if not day:
        raise DateError("Give the date too, not only the time.")
    try:
        exact = parse_time(day)
    except ValueError:
        pass
    else:
        return Moment(format_time(exact), day)
    if not clock:
        day, clock = _split(day)
    where = zone_of(zone)
    local = datetime.combine(parse_day(day), parse_clock(clock) if clock else time(0),
                             tzinfo=where)
    zone_name = zone.strip() or DEFAULT_ZONE
    try:
        instant = local.astimezone(UTC)
    except OverflowError as exc:  # 31 Dec 9999 west of UTC, 1 Jan 0001 east of it
        raise DateError(f"“{day.strip()}” in {zone_name} is outside the years 0001–9999"
                        " in UTC.") from exc
    if clock and instant.astimezone(where).replace(tzinfo=None) != local.replace(tzinfo=None):
        # a day alone is still its start: the instant the clocks jumped to
        raise DateError(f"{local.strftime('%d %b %Y %H:%M')} does not exist in {zone_name}:"
                        " the clocks jumped past it (a daylight-saving or zone change);"
                        " give the time after the change.")
    shown = local.strftime("%d %b %Y") + (
        f" (the start of the day, 00:00 {zone_name})" if not clock
        else local.strftime(" %H:%M") + f" {zone_name}")
    return Moment(format_time(instant), shown, day_only=not clock)


def describe(rfc3339: str) -> str:
    """A canonical time as the desk shows it: ``16 Sep 2014 14:00 UTC``."""
    return parse_time(rfc3339).strftime("%d %b %Y %H:%M UTC")


def _years(delta: timedelta) -> str:
    years = abs(delta.days) / 365.25
    return f"{years:.0f} years" if years >= 1.5 else "more than a year"


def surprises(times: Iterable[tuple[str, str]], story: Sequence[str], now: datetime) -> list[str]:
    """What to check with the editor before saving: each ``(label, time)`` that is in the
    future or more than a year from every date in ``story`` (the claim's own dates)."""
    known = [parse_time(t) for t in story]
    found: list[str] = []
    for label, text in times:
        moment = parse_time(text)
        if moment > now + SLACK:
            found.append(f"{label}: {describe(text)} is in the future.")
        elif known and min(abs(moment - k) for k in known) > FAR:
            first, last = min(known), max(known)
            nearest = first if moment < first else last
            span = describe(format_time(first))[:11] + (
                "" if first.date() == last.date() else " – " + describe(format_time(last))[:11])
            found.append(f"{label}: {describe(text)} is {_years(moment - nearest)} away from"
                         f" the rest of the claim ({span}).")
    return found
