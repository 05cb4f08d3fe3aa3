"""SQLite storage of the tree nodes, checkpoints and redactions (migration 3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .. import merkle
from .sql import Connection, Database
from .tree import Key, Redaction

#: migration 3: tree nodes, checkpoints and redactions, all append-only; a payload may
#: be deleted only once a redaction of its position is recorded
MIGRATION = """
CREATE TABLE merkle_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE TABLE redactions (
    position INTEGER PRIMARY KEY REFERENCES events (position),
    event_id TEXT NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    redacted_at TEXT NOT NULL
);
CREATE TRIGGER merkle_nodes_refuse_update BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on merkle_nodes refused'); END;
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on merkle_nodes refused'); END;
CREATE TRIGGER checkpoints_refuse_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on checkpoints refused'); END;
CREATE TRIGGER checkpoints_refuse_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on checkpoints refused'); END;
CREATE TRIGGER redactions_refuse_update BEFORE UPDATE ON redactions
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on redactions refused'); END;
CREATE TRIGGER redactions_refuse_delete BEFORE DELETE ON redactions
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on redactions refused'); END;
DROP TRIGGER payloads_refuse_delete;
CREATE TRIGGER payloads_refuse_delete BEFORE DELETE ON payloads
WHEN NOT EXISTS (SELECT 1 FROM redactions r WHERE r.position = OLD.position)
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on payloads refused unless redacted');
END;
"""

#: migration 4: nodes keyed in the order appends complete them (``node_key``), so an
#: append's nodes all land on the right edge of one B-tree instead of on one edge per
#: level (a 100-event append wrote about 20 pages of nodes; now one or two)
KEYED_MIGRATION = """
CREATE TABLE merkle_nodes_keyed (
    k INTEGER PRIMARY KEY,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    CHECK (k = ((idx + 1) << (level + 6)) + level)
);
INSERT INTO merkle_nodes_keyed (k, level, idx, hash)
    SELECT ((idx + 1) << (level + 6)) + level, level, idx, hash FROM merkle_nodes ORDER BY 1;
DROP TABLE merkle_nodes;
ALTER TABLE merkle_nodes_keyed RENAME TO merkle_nodes;
CREATE TRIGGER merkle_nodes_refuse_update BEFORE UPDATE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on merkle_nodes refused'); END;
CREATE TRIGGER merkle_nodes_refuse_delete BEFORE DELETE ON merkle_nodes
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on merkle_nodes refused'); END;
"""

_INSERT_NODES = "INSERT INTO merkle_nodes (k, level, idx, hash) VALUES "
#: rows per multi-row INSERT, and keys per IN list (bound parameters stay far below limits)
CHUNK = 500


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[tuple[Any, ...]], marks: str, chunk: int
) -> None:
    """Insert rows ``chunk`` at a time with multi-row VALUES (a fifth cheaper than executemany)."""
    if len(rows) == 1:  # a one-event append: no joining, no flattening
        conn.execute(head + marks, rows[0])
        return
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        conn.execute(head + ",".join([marks] * len(part)), [v for row in part for v in row])


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


def _select_nodes(conn: Connection, keys: Sequence[Key]) -> dict[Key, bytes]:
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


class SQLiteTreeWrite:
    """The write transaction's tree, redaction and payload statements."""

    conn: sqlite3.Connection

    def get_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Stored nodes among ``keys``."""
        return _select_nodes(self.conn, keys)

    def insert_nodes(self, nodes: Sequence[merkle.Node]) -> None:
        """Insert ``(level, index, hash)`` rows, many per statement (cheaper than executemany)."""
        rows = [(node_key(level, index), level, index, value) for level, index, value in nodes]
        insert_rows(self.conn, _INSERT_NODES, rows, "(?,?,?,?)", CHUNK)

    def insert_redactions(self, redactions: Sequence[Redaction]) -> None:
        """Record redactions (before their payloads are deleted)."""
        self.conn.executemany(
            "INSERT INTO redactions (position, event_id, actor, reason, redacted_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(r.position, r.event_id, r.actor, r.reason, r.redacted_at) for r in redactions],
        )


class SQLiteNodes:
    """The tree's nodes read from the SQLite file (a ``tree.NodeReader``)."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def by_keys(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The stored nodes among ``keys``, in one query."""
        with self._db.connection() as conn:
            return _select_nodes(conn, keys)

    def level(self, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of stored nodes at ``level`` with indexes ``start`` to
        ``start + limit - 1``, in order."""
        with self._db.connection() as conn:
            keys = [node_key(level, index) for index in range(start, start + limit)]
            found: list[tuple[int, bytes]] = []
            for first in range(0, len(keys), CHUNK):
                part = keys[first : first + CHUNK]
                rows = conn.execute(_keys_query(len(part)) + " ORDER BY k", part)
                found.extend((index, bytes(value)) for _, index, value in rows)
            return found
