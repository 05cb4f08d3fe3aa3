"""The tree's nodes in the SQLite file: level 0 from ``events.leaf_hash``, higher levels
from ``merkle_nodes`` keyed in the order appends complete them (``node_key``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..sql import Connection
from ..tree import Key

#: rows per multi-row INSERT, and keys per IN list (bound parameters stay far below limits)
CHUNK = 500


def node_key(level: int, index: int) -> int:
    """A node's row key: it completes when ``(index + 1) << level`` leaves exist, after
    the lower nodes that complete with it, so keys grow in the order nodes are stored."""
    return ((index + 1) << (level + 6)) + level


def _keys_query(count: int) -> str:
    marks = ",".join(["?"] * count)
    return f"SELECT level, idx, hash FROM merkle_nodes WHERE k IN ({marks})"  # noqa: S608


def _leaves_query(count: int) -> str:
    marks = ",".join(["?"] * count)
    return f"SELECT position - 1, leaf_hash FROM events WHERE position IN ({marks})"  # noqa: S608


def select_nodes(conn: Connection, keys: Sequence[Key]) -> dict[Key, bytes]:
    """Level 0 from ``events.leaf_hash``, higher levels from ``merkle_nodes``."""
    leaves = [index + 1 for level, index in keys if level == 0]
    inner = [node_key(level, index) for level, index in keys if level > 0]
    found: dict[Key, bytes] = {}
    if leaves:
        rows = conn.execute(_leaves_query(len(leaves)), leaves)
        found.update(((0, index), bytes.fromhex(value)) for index, value in rows)
    if inner:
        rows = conn.execute(_keys_query(len(inner)), inner)
        found.update(((level, index), bytes(value)) for level, index, value in rows)
    return found


def level_nodes(conn: Connection, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
    """``(index, hash)`` of stored nodes at ``level`` with indexes ``start`` to
    ``start + limit - 1``, in order."""
    keys = [node_key(level, index) for index in range(start, start + limit)]
    found: list[tuple[int, bytes]] = []
    for first in range(0, len(keys), CHUNK):
        part = keys[first : first + CHUNK]
        rows = conn.execute(_keys_query(len(part)) + " ORDER BY k", part)
        found.extend((index, bytes(value)) for _, index, value in rows)
    return found
