"""The views' histogram of a long claim on a broken axis (``ledger.fold.histogram``'s
``parts``, cut by ``ledger.axis`` as the per-entry timeline is) and its drawing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.desk.histogram import render_histogram
from api.desk.timeline import axis_parts
from ledger import axis
from ledger.fold import HISTOGRAM_BUCKETS, histogram
from ledger.timeutil import parse_time

T0 = datetime(2014, 9, 15, 11, tzinfo=UTC)
KEYS = ("appearances", "corroborations", "denials", "notes")
LANE_OF = {"appearances": 0, "corroborations": 1, "denials": 2, "notes": 4}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def state_of(entries: list[tuple[str, datetime]]) -> dict[str, list[dict[str, str]]]:
    state: dict[str, list[dict[str, str]]] = {key: [] for key in KEYS}
    for key, moment in entries:
        state[key].append({"occurred_at": iso(moment)})
    return state


def test_two_bursts_years_apart_are_two_parts_each_counted_on_its_own_spans() -> None:
    early = [("notes", T0 + timedelta(minutes=20 * i)) for i in range(150)]
    late = [("denials", datetime(2026, 1, 15, 10, i, tzinfo=UTC)) for i in range(60)]
    kept = histogram(state_of([*early, *late]))
    assert kept is not None
    first, second = kept["parts"]
    assert (first["start"], first["end"]) == (iso(early[0][1]), iso(early[-1][1]))
    assert second["start"].startswith("2026-01-15T10:00")
    assert len(first["lanes"][4]) == len(second["lanes"][2]) == HISTOGRAM_BUCKETS // 2
    # the 2014 burst spreads over its 24 spans instead of filling one of 48 over 11 years
    assert sum(1 for count in first["lanes"][4] if count) == HISTOGRAM_BUCKETS // 2
    assert sum(first["lanes"][4]) == 150
    assert sum(second["lanes"][2]) == 60
    assert sum(1 for count in kept["lanes"][4] if count) == 1  # the whole-span count, as before
    drawn = str(render_histogram(kept, 211))
    assert drawn.count('class="axis"') == 2
    assert "11 years later" in drawn
    assert "each of its 2 parts has its own scale" in drawn


def test_a_histogram_kept_before_parts_draws_one_axis_with_its_scale() -> None:
    kept = histogram(state_of([("notes", T0), ("notes", T0 + timedelta(days=4000))]))
    assert kept is not None
    del kept["parts"]
    drawn = str(render_histogram(kept, 300))
    assert drawn.count('class="axis"') == 1
    assert "Time scale: 15 Sep 2014 11:00 – " in drawn
    assert f"Each bar counts the entries of a span of {4000 / 48 / 30.44:.0f} months" in drawn
    assert render_histogram(None, 0) == ""


moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC))


@given(st.lists(st.tuples(st.sampled_from(KEYS), moments), min_size=1, max_size=60))
def test_parts_count_every_entry_once_within_bounds_and_match_the_timeline(
    entries: list[tuple[str, datetime]]
) -> None:
    kept = histogram(state_of(entries))
    assert kept is not None
    parts = kept["parts"]
    assert 1 <= len(parts) <= axis.MAX_PARTS
    assert sum(len(p["lanes"][0]) for p in parts) <= HISTOGRAM_BUCKETS  # bounded size
    for key in KEYS:
        lane = LANE_OF[key]
        assert sum(sum(p["lanes"][lane]) for p in parts) == sum(1 for k, _ in entries if k == key)
    for part in parts:
        start, end = parse_time(part["start"]), parse_time(part["end"])
        assert start <= end
        assert len(part["lanes"][0]) == (1 if start == end else HISTOGRAM_BUCKETS // len(parts))
        inside = sum(1 for _, m in entries
                     if start - timedelta(milliseconds=1) <= m <= end + timedelta(milliseconds=1))
        assert sum(map(sum, part["lanes"])) == inside
    # the same parts as the per-entry timeline draws for these times
    drawn = axis_parts([m for _, m in entries], 170, 750)
    assert len(drawn) == len(parts)
    for part, shown in zip(parts, drawn, strict=True):
        assert abs(parse_time(part["start"]) - shown.start) < timedelta(milliseconds=1)
        assert abs(parse_time(part["end"]) - shown.end) < timedelta(milliseconds=1)
    assert str(render_histogram(kept, len(entries))).count('class="axis"') == len(parts)


@given(st.lists(st.floats(min_value=0, max_value=4e9), min_size=1, max_size=50, unique=True))
def test_groups_cover_the_times_in_order(values: list[float]) -> None:
    ordered = sorted(values)
    pairs = axis.groups(ordered)
    assert pairs[0][0] == 0
    assert pairs[-1][1] == len(ordered) - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(pairs))
    for (_, last), (first, _) in itertools.pairwise(pairs):
        assert ordered[first] - ordered[last] > axis.BREAK_AFTER
