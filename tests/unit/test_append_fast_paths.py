"""The one-event append's fast paths give exactly what the general paths give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from ledger import merkle
from ledger.timeutil import format_time

_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(_times)
def test_format_time_of_utc_is_the_general_form(value: datetime) -> None:
    # the same instant in another zone takes the general path
    other = value.astimezone(timezone(timedelta(hours=1)))
    assert format_time(value) == format_time(other)
    assert format_time(value) == value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")


@given(st.integers(min_value=0, max_value=2**40))
def test_resume_levels_are_the_perfect_subtrees(size: int) -> None:
    levels = [level for level, _ in merkle.perfect_subtrees(0, size)]
    edge = [bytes([i]) * merkle.HASH_SIZE for i in range(len(levels))]
    tree = merkle.CompactTree.resume(size, edge)
    assert tree.size == size
    assert tree.edge() == edge
    assert [level for level, _ in tree._edge] == levels
