"""The desk's reading of dates: any day and clock in any zone round-trips to the instant
it names; a day alone is that day's start in the zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from api.desk.dates import DateError, compose, parse_day, surprises, zone_of
from ledger.timeutil import parse_time

ZONES = ["UTC", "Asia/Tehran", "America/New_York", "Australia/Lord_Howe", "+04:30", "-09:30"]


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
       st.sampled_from(ZONES))
def test_a_day_and_clock_in_a_zone_is_that_instant(moment: datetime, zone: str) -> None:
    moment = moment.replace(second=0, microsecond=0)
    where = zone_of(zone)
    # a time the clocks jumped past (a daylight-saving gap) is refused, tested below
    assume(moment.replace(tzinfo=where).astimezone(UTC).astimezone(where).replace(tzinfo=None)
           == moment)
    read = compose(moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M"), zone)
    assert read is not None
    assert not read.day_only
    expected = moment.replace(tzinfo=zone_of(zone)).astimezone(UTC)
    assert parse_time(read.rfc3339) == expected


@given(st.dates(min_value=datetime(1900, 1, 1).date(), max_value=datetime(2200, 1, 1).date()),
       st.sampled_from(ZONES))
def test_a_day_alone_is_its_start_in_the_zone(day: object, zone: str) -> None:
    read = compose(str(day), "", zone)
    assert read is not None
    assert read.day_only
    local = parse_time(read.rfc3339).astimezone(zone_of(zone))
    assert str(local.date()) == str(day)
    assert "(the start of the day, 00:00" in read.shown


@pytest.mark.parametrize("typed", ["2014-09-16", "16/09/2014", "16 Sep 2014", "16 Sept 2014",
                                   "Sep 16, 2014", "16 September 2014"])
def test_days_as_people_write_them(typed: str) -> None:
    assert str(parse_day(typed)) == "2014-09-16"


def test_what_is_not_a_date_says_so() -> None:
    for day, clock, zone in (("Sept 16", "", "UTC"), ("2014-09-16", "25:00", "UTC"),
                             ("", "10:00", "UTC"), ("2014-09-16", "", "Nowhere/Land")):
        with pytest.raises(DateError):
            compose(day, clock, zone)
    assert compose("", "", "UTC") is None
    read = compose("16/09/2014 10:00", "", "Asia/Tehran")
    assert read is not None
    assert read.rfc3339 == "2014-09-16T05:30:00.000000Z"
    assert zone_of("Asia/Tehran") == ZoneInfo("Asia/Tehran")


def test_surprises_are_the_future_and_years_away() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    story = ["2014-09-15T11:00:00.000000Z", "2014-09-16T10:00:00.000000Z"]
    assert surprises([("Occurred on", "2014-09-20T00:00:00Z")], story, now) == []
    [future] = surprises([("Occurred on", "2026-02-01T00:00:00Z")], story, now)
    assert "is in the future" in future
    [far] = surprises([("Occurred on", "2010-01-01T00:00:00Z")], story, now)
    assert "5 years away from the rest of the claim (15 Sep 2014 – 16 Sep 2014)" in far
    assert surprises([("x", (now + timedelta(minutes=5)).isoformat())], [], now) == []


@pytest.mark.parametrize(("day", "clock", "zone", "said"), [
    ("9999-12-31", "23:59", "-05:00", "outside the years 0001–9999"),
    ("9999-12-31T23:59", "", "America/New_York", "outside the years 0001–9999"),
    ("0001-01-01", "00:00", "+04:30", "outside the years 0001–9999"),
    ("2014-03-09", "02:30", "America/New_York", "does not exist in America/New_York"),
    ("2014-09-16", "10:00", "Asia", "“Asia” is not a time zone"),  # a directory of zones
    ("2014-09-16", "10:00", "x" * 5000, "“" + "x" * 40 + "…” is not a time zone"),
    ("2014-09-16", "10:00", "Asia/Tehran\x00", "is not a time zone"),
    ("2014-09-16", "10:00", "../../../etc/passwd", "is not a time zone"),
])
def test_odd_dates_and_zones_are_told_not_crashed_on(day: str, clock: str, zone: str,
                                                      said: str) -> None:
    with pytest.raises(DateError, match=said.replace("(", r"\(")):
        compose(day, clock, zone)


def test_a_day_alone_whose_midnight_was_skipped_starts_when_the_clocks_jumped() -> None:
    read = compose("2011-12-30", "", "Pacific/Apia")  # Samoa skipped 30 December 2011
    assert read is not None
    assert read.rfc3339 == "2011-12-30T10:00:00.000000Z"
    late = compose("16/09/2014 10:00pm", "", "UTC")
    assert late is not None
    assert late.rfc3339 == "2014-09-16T22:00:00.000000Z"
