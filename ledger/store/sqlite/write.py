"""The SQLite write transaction: what an append runs after ``BEGIN IMMEDIATE``, which is
the ledger's append lock (writers queue on a file lock before it, see ``connection``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ... import merkle
from ...envelope import RecordedEvent
from ...merkle import Node
from ..events import HEAD, SQLWriteTransaction
from ..sql import QMARK
from ..tree import Key, Redaction
from ..writing import metadata_json
from .tree import CHUNK, node_key, select_nodes

_INSERT_EVENTS = (
    "INSERT INTO events (position, id, claim_id, version, type, schema_version,"
    " occurred_at, recorded_at, actor, metadata, payload_sha256, prev_hash, leaf_hash) VALUES "
)
_EVENT_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_PAYLOADS = "INSERT INTO payloads (position, data) VALUES "
_INSERT_NODES = "INSERT INTO merkle_nodes (k, level, idx, hash) VALUES "
_INSERT_ONE_EVENT = _INSERT_EVENTS + _EVENT_ROW
_INSERT_ONE_PAYLOAD = _INSERT_PAYLOADS + "(?,?)"
_INSERT_ONE_NODE = _INSERT_NODES + "(?,?,?,?)"


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


class SQLiteWrite(SQLWriteTransaction):
    """A write transaction on the thread's connection, after ``BEGIN IMMEDIATE``."""

    style = QMARK

    def __init__(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor | None = None) -> None:
        self.conn = conn
        #: the connection's kept cursor, for the statements every append runs
        self.cursor = conn.cursor() if cursor is None else cursor

    def head(self) -> tuple[int, str | None]:
        row = self.cursor.execute(HEAD).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def claim_head(self, claim_id: str) -> tuple[int, str | None]:
        row = self.cursor.execute(
            "SELECT version, leaf_hash FROM events WHERE claim_id = ?"
            " ORDER BY version DESC LIMIT 1",
            (claim_id,),
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def claim_heads(self, claim_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        ids = list(claim_ids)
        heads: dict[str, tuple[int, str | None]] = dict.fromkeys(ids, (0, None))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            # one index seek per claim: a GROUP BY with max() would read all of its events
            marks = ",".join(["(?)"] * len(chunk))
            rows = self.conn.execute(
                "SELECT e.claim_id, e.version, e.leaf_hash"  # noqa: S608 - only ?s
                f" FROM (VALUES {marks}) AS k JOIN events e ON e.position = (SELECT position"
                " FROM events WHERE claim_id = k.column1 ORDER BY version DESC LIMIT 1)",
                chunk,
            )
            for claim_id, version, leaf in rows:
                heads[claim_id] = (version, leaf)
        return heads

    def insert(self, events: Sequence[RecordedEvent], payloads: Sequence[bytes | None],
               nodes: Sequence[Node] = ()) -> None:
        if len(events) == 1 and payloads[0] is not None:  # a one-event append
            e = events[0]
            self.conn.execute(_INSERT_EVENTS + _EVENT_ROW, (
                e.position, e.id, e.claim_id, e.version, e.type, e.schema_version,
                e.occurred_at, e.recorded_at, e.actor, metadata_json(e.metadata),
                e.payload_sha256, e.prev_hash, e.leaf_hash,
            ))
            self.conn.execute(_INSERT_PAYLOADS + "(?,?)", (e.position, payloads[0].decode()))
            if nodes:
                self.insert_nodes(nodes)
            return
        rows = [
            (
                e.position,
                e.id,
                e.claim_id,
                e.version,
                e.type,
                e.schema_version,
                e.occurred_at,
                e.recorded_at,
                e.actor,
                metadata_json(e.metadata),
                e.payload_sha256,
                e.prev_hash,
                e.leaf_hash,
            )
            for e in events
        ]
        insert_rows(self.conn, _INSERT_EVENTS, rows, _EVENT_ROW, 50)
        texts = [
            (e.position, p.decode("utf-8"))
            for e, p in zip(events, payloads, strict=True)
            if p is not None
        ]
        insert_rows(self.conn, _INSERT_PAYLOADS, texts, "(?,?)", 250)
        self.insert_nodes(nodes)

    def insert_one(self, event: RecordedEvent, payload: bytes, nodes: Sequence[Node],
                   metadata: str | None = None) -> None:
        e, execute = event, self.cursor.execute
        execute(_INSERT_ONE_EVENT, (
            e.position, e.id, e.claim_id, e.version, e.type, e.schema_version, e.occurred_at,
            e.recorded_at, e.actor, metadata_json(e.metadata) if metadata is None else metadata,
            e.payload_sha256, e.prev_hash, e.leaf_hash,
        ))
        execute(_INSERT_ONE_PAYLOAD, (e.position, payload.decode()))
        if len(nodes) == 1:  # every other append completes one node, a fourth two…
            level, index, value = nodes[0]
            execute(_INSERT_ONE_NODE, (node_key(level, index), level, index, value))
        elif nodes:
            self.insert_nodes(nodes)

    def get_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Stored nodes among ``keys``."""
        return select_nodes(self.conn, keys)

    def insert_nodes(self, nodes: Sequence[merkle.Node]) -> None:
        """Insert ``(level, index, hash)`` rows, many per statement (cheaper than executemany)."""
        if not nodes:
            return
        rows = [(node_key(level, index), level, index, value) for level, index, value in nodes]
        insert_rows(self.conn, _INSERT_NODES, rows, "(?,?,?,?)", CHUNK)

    def insert_redactions(self, redactions: Sequence[Redaction]) -> None:
        """Record redactions (before their payloads are deleted)."""
        self.conn.executemany(
            "INSERT INTO redactions (position, event_id, actor, reason, redacted_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(r.position, r.event_id, r.actor, r.reason, r.redacted_at) for r in redactions],
        )
