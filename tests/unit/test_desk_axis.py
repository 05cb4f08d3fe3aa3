"""The timeline's axis: broken where the story has long empty stretches, each part to its
own scale, stated in words; every time lands inside its own part."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.desk.timeline import GAP, MAX_PARTS, axis_parts, duration, scale_note

T0 = datetime(2014, 9, 15, 11, tzinfo=UTC)


def test_a_story_of_two_days_and_a_stray_date_years_later_is_two_parts() -> None:
    times = [T0, T0 + timedelta(hours=4), T0 + timedelta(days=1),
             datetime(2026, 12, 3, tzinfo=UTC)]
    first, second = axis_parts(times, 170, 750)
    assert (first.start, first.end) == (T0, T0 + timedelta(days=1))
    assert second.start == second.end == times[-1]
    assert second.x0 - first.x1 == GAP
    # the story's own two days take half the width, not a sliver at its left edge
    assert first.x(times[1]) - first.x(times[0]) > 50
    note = scale_note([first, second])
    assert "broken where nothing happened for a long time (gaps of 12 years)" in note
    assert "15 Sep 2014 11:00 – 16 Sep 2014 11:00 (24 hours)" in note


def test_an_even_story_is_one_part() -> None:
    times = [T0 + timedelta(days=20 * i) for i in range(10)]
    [part] = axis_parts(times, 170, 750)
    assert scale_note([part]).startswith("Time scale: 15 Sep 2014 11:00 – ")
    assert duration(timedelta(0)) == "one moment"


@given(st.lists(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                             timezones=st.just(UTC)), min_size=1, max_size=40))
def test_every_time_is_drawn_inside_its_part(times: list[datetime]) -> None:
    parts = axis_parts(times, 170, 750)
    assert 1 <= len(parts) <= MAX_PARTS
    assert parts[0].x0 == 170
    assert abs(parts[-1].x1 - 920) < 1e-6
    for moment in times:
        [part] = [p for p in parts if p.start <= moment <= p.end]
        assert part.x0 <= part.x(moment) <= part.x1
    for before, after in itertools.pairwise(parts):
        assert before.end < after.start
