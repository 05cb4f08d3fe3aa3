"""PostgreSQL storage of the tree nodes, checkpoints and redactions (migration 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from .. import merkle
from .sql import Connection, Database
from .tree import Key, Redaction

#: migration 3: tree nodes, checkpoints and redactions, all append-only; a payload may
#: be deleted only once a redaction of its position is recorded (a row trigger checks)
MIGRATION = """
CREATE TABLE merkle_nodes (
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY,
    root BYTEA NOT NULL CHECK (octet_length(root) = 32),
    note TEXT NOT NULL,
    issued_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE redactions (
    position BIGINT PRIMARY KEY REFERENCES events (position),
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    redacted_at TEXT NOT NULL
);
CREATE TRIGGER merkle_nodes_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER checkpoints_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER redactions_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON redactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER payloads_refuse_change ON payloads;
CREATE TRIGGER payloads_refuse_change BEFORE UPDATE OR TRUNCATE ON payloads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE FUNCTION ledger_refuse_unredacted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM redactions r WHERE r.position = OLD.position) THEN
        RAISE EXCEPTION 'the ledger is append-only: DELETE on payloads refused unless redacted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER payloads_refuse_unredacted_delete BEFORE DELETE ON payloads
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_unredacted_delete();
"""

#: level 0 is the leaf hashes in ``events``; higher levels are ``merkle_nodes`` rows
_NODES = (
    "SELECT 0, e.position - 1, decode(e.leaf_hash, 'hex') FROM events e"
    " WHERE e.position = ANY(%s::bigint[])"
    " UNION ALL"
    " SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS k (level, idx)"
    " JOIN merkle_nodes n ON n.level = k.level AND n.idx = k.idx WHERE k.level > 0"
)

Conn = psycopg.Connection[tuple[Any, ...]]


def _select_nodes(conn: Connection, keys: Sequence[Key]) -> dict[Key, bytes]:
    if not keys:
        return {}
    leaves = [index + 1 for level, index in keys if level == 0]
    inner = [key for key in keys if key[0] > 0]
    rows = conn.execute(_NODES, (leaves, [k[0] for k in inner], [k[1] for k in inner]))
    return {(level, index): bytes(value) for level, index, value in rows}


class PostgresTreeWrite:
    """The write transaction's tree, redaction and payload statements."""

    conn: Conn
    #: set before the first write is sent: the transaction then must be rolled back on error
    wrote: bool

    def get_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Stored nodes among ``keys``."""
        return _select_nodes(self.conn, keys)

    def insert_nodes(self, nodes: Sequence[merkle.Node]) -> None:
        """Insert ``(level, index, hash)`` rows in one statement."""
        if not nodes:
            return
        self.wrote = True
        self.conn.execute(
            "INSERT INTO merkle_nodes (level, idx, hash)"
            " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[])",
            ([n[0] for n in nodes], [n[1] for n in nodes], [n[2] for n in nodes]),
        )

    def insert_redactions(self, redactions: Sequence[Redaction]) -> None:
        """Record redactions (before their payloads are deleted)."""
        self.wrote = True
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO redactions (position, event_id, actor, reason, redacted_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(r.position, r.event_id, r.actor, r.reason, r.redacted_at) for r in redactions],
            )


class PostgresNodes:
    """The tree's nodes read from PostgreSQL (a ``tree.NodeReader``)."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def by_keys(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The stored nodes among ``keys``, in one query."""
        with self._db.connection() as conn:
            return _select_nodes(conn, keys)

    def level(self, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of the stored nodes at ``level`` among indexes ``start`` to
        ``start + limit - 1``, in order."""
        with self._db.connection() as conn:
            rows = conn.execute(
                "SELECT idx, hash FROM merkle_nodes WHERE level = %s AND idx >= %s AND idx < %s"
                " ORDER BY idx",
                (level, start, start + limit),
            )
            return [(index, bytes(value)) for index, value in rows]
