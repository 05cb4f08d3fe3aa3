"""The append caches roll forward over what other writers appended, or refuse to."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from ledger import merkle
from ledger.store.caches import FrontierCache, HeadCache, Leaf


def _leaf(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


def _tree(size: int) -> merkle.CompactTree:
    tree = merkle.CompactTree()
    for n in range(size):
        tree.append(_leaf(n))
    return tree


@given(st.integers(0, 300), st.integers(0, 70))
def test_a_frontier_caught_up_over_later_leaves_is_the_edge_of_the_whole_tree(
    known: int, later: int
) -> None:
    cache = FrontierCache()
    cache.remember(known, _tree(known).edge())
    cache.catch_up(known, [_leaf(n) for n in range(known, known + later)])
    assert cache.lookup(known + later) == tuple(_tree(known + later).edge())


def test_a_frontier_of_another_size_is_left_alone() -> None:
    cache = FrontierCache()
    cache.remember(5, _tree(5).edge())
    cache.catch_up(4, [_leaf(4), _leaf(5)])
    assert cache.lookup(5) == tuple(_tree(5).edge())
    assert cache.lookup(6) is None


def test_heads_roll_forward_to_the_last_event_of_each_claim() -> None:
    heads = HeadCache()
    heads.remember(0, 2, {"a": (1, "a1"), "b": (1, "b1")})
    assert heads.catch_up([Leaf(3, "a", 2, "a2"), Leaf(4, "c", 1, "c1"), Leaf(5, "a", 3, "a3")])
    assert heads.position == 5
    assert heads.lookup(5, ["a", "b", "c", "d"]) == {
        "a": (3, "a3"), "b": (1, "b1"), "c": (1, "c1"), "d": None,
    }


def test_heads_refuse_events_that_do_not_follow_on_without_a_gap() -> None:
    heads = HeadCache()
    heads.remember(0, 2, {"a": (1, "a1")})
    assert not heads.catch_up([Leaf(4, "a", 2, "a2")])
    assert not heads.catch_up([Leaf(3, "a", 2, "a2"), Leaf(5, "a", 3, "a3")])
    assert not heads.catch_up([])
    assert heads.position == 2
    assert heads.lookup(2, ["a"]) == {"a": (1, "a1")}
