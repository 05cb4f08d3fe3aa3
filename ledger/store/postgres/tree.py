"""The tree's nodes in PostgreSQL: level 0 from ``events.leaf_hash``, higher levels from
``merkle_nodes`` rows keyed ``(level, idx)``."""

from __future__ import annotations

from collections.abc import Sequence

from ..sql import Connection
from ..tree import Key

#: level 0 is the leaf hashes in ``events``; higher levels are ``merkle_nodes`` rows
_NODES = (
    "SELECT 0, e.position - 1, decode(e.leaf_hash, 'hex') FROM events e"
    " WHERE e.position = ANY(%s::bigint[])"
    " UNION ALL"
    " SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS k (level, idx)"
    " JOIN merkle_nodes n ON n.level = k.level AND n.idx = k.idx WHERE k.level > 0"
)


_LEVEL = (
    "SELECT idx, hash FROM merkle_nodes WHERE level = %s AND idx >= %s AND idx < %s ORDER BY idx"
)


def select_nodes(conn: Connection, keys: Sequence[Key]) -> dict[Key, bytes]:
    """The stored nodes among ``keys``, leaves and higher levels in one query."""
    if not keys:
        return {}
    leaves = [index + 1 for level, index in keys if level == 0]
    inner = [key for key in keys if key[0] > 0]
    rows = conn.execute(_NODES, (leaves, [k[0] for k in inner], [k[1] for k in inner]))
    return {(level, index): bytes(value) for level, index, value in rows}


def level_nodes(conn: Connection, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
    """``(index, hash)`` of the stored nodes at ``level`` among indexes ``start`` to
    ``start + limit - 1``, in order."""
    rows = conn.execute(_LEVEL, (level, start, start + limit))
    return [(index, bytes(value)) for index, value in rows]
