"""Where a claim's time axis breaks: the rule the desk's timeline and the views' histogram share.

A stretch of the story longer than ``BREAK_AFTER`` with nothing in it, and longer than a
fifth of the whole span, breaks the axis; at most ``MAX_PARTS`` parts, cut at the longest
such stretches. Each part is then drawn to a scale of its own. Pure: no I/O, no clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence

#: an empty stretch must be longer than this (seconds: 30 days) to break the axis
BREAK_AFTER = 30 * 86400.0
#: the most parts an axis is broken into
MAX_PARTS = 4


def cuts(ordered: Sequence[float], break_after: float = BREAK_AFTER,
         max_parts: int = MAX_PARTS) -> list[int]:
    """The indices ``i`` (ascending) of ``ordered`` (sorted, distinct seconds) after which
    the axis breaks: between ``ordered[i]`` and ``ordered[i + 1]``."""
    if len(ordered) < 2 or max_parts < 2:
        return []
    least = max(break_after, (ordered[-1] - ordered[0]) / 5)
    # only a gap over both bounds can break the axis: the few such, then the longest of them
    wide = [(b - a, i) for i, (a, b) in enumerate(itertools.pairwise(ordered)) if b - a > least]
    return sorted(i for _, i in heapq.nlargest(max_parts - 1, wide))


def groups(ordered: Sequence[float], break_after: float = BREAK_AFTER,
           max_parts: int = MAX_PARTS) -> list[tuple[int, int]]:
    """The parts of the axis as ``(first, last)`` index pairs into ``ordered`` (sorted,
    distinct seconds; not empty): one pair unless the story has long empty stretches."""
    pairs: list[tuple[int, int]] = []
    begin = 0
    for cut in [*cuts(ordered, break_after, max_parts), len(ordered) - 1]:
        pairs.append((begin, cut))
        begin = cut + 1
    return pairs
