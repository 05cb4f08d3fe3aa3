"""The PostgreSQL write transaction: the statements an append runs under the append lock.

Arrays are sent as PostgreSQL array literals built here and cast by the statement
(``%s::bigint[]``): psycopg adapts a Python list element by element in Python, which
cost more than the rest of the client's work for a one-event append.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import psycopg

from ... import merkle
from ...envelope import RecordedEvent
from ...merkle import Node
from ..caches import ROLL_FORWARD_LIMIT, Leaf
from ..events import HEAD, SQLWriteTransaction
from ..sql import FORMAT
from ..tree import Key, Redaction
from ..writing import metadata_json
from .tree import select_nodes

Conn = psycopg.Connection[tuple[Any, ...]]

#: ``pg_advisory_xact_lock`` key serialising appends ("ledger" in ASCII).
APPEND_LOCK_KEY: Final = 0x6C6564676572
#: taking the append lock: the key written into the statement (no parameter to adapt)
LOCK_APPEND = f"SELECT pg_advisory_xact_lock({int(APPEND_LOCK_KEY)})"

# One round trip for any number of events: events, tree nodes and payloads filled from
# parallel arrays.
_INSERT = (
    "WITH new_events AS (INSERT INTO events (position, id, claim_id, version, type,"
    " schema_version, occurred_at, recorded_at, actor, metadata, payload_sha256, prev_hash,"
    " leaf_hash) SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::int[],"
    " %s::text[], %s::int[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[])),"
    " new_nodes AS (INSERT INTO merkle_nodes (level, idx, hash)"
    " SELECT * FROM unnest(%s::smallint[], %s::bigint[], %s::bytea[]))"
    " INSERT INTO payloads (position, data) SELECT * FROM unnest(%s::bigint[], %s::text[])"
)



def int_array(values: Iterable[int]) -> str:
    """An array literal of integers."""
    return "{" + ",".join(map(str, values)) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """An array literal of texts: every element quoted, backslash and quote escaped."""
    return "{" + ",".join(
        "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    ) + "}"


def bytea_array(values: Iterable[bytes]) -> str:
    """An array literal of byte strings in bytea's hex form."""
    return "{" + ",".join('"\\\\x' + v.hex() + '"' for v in values) + "}"


class PostgresWrite(SQLWriteTransaction):
    """A write transaction on one pooled connection holding the append lock."""

    style = FORMAT

    def __init__(self, conn: Conn, head: tuple[int, str | None],
                 later: tuple[int, list[Leaf]] | None = None) -> None:
        self.conn = conn
        self.wrote = False
        self._head: tuple[int, str | None] | None = head
        #: (position, up to ROLL_FORWARD_LIMIT leaves after it), read with the head
        self._later = later

    def head(self) -> tuple[int, str | None]:
        if self._head is not None:  # read right after the lock, in the same round trip
            head, self._head = self._head, None
            return head
        row = self.conn.execute(HEAD).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def leaves_since(self, position: int, limit: int) -> list[Leaf]:
        later, self._later = self._later, None
        if later is not None and later[0] == position and limit <= ROLL_FORWARD_LIMIT:
            return later[1][:limit]  # read under the lock with the head: no round trip
        return super().leaves_since(position, limit)

    def claim_head(self, claim_id: str) -> tuple[int, str | None]:
        return self.claim_heads([claim_id])[claim_id]

    def claim_heads(self, claim_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        ids = list(claim_ids)
        heads: dict[str, tuple[int, str | None]] = dict.fromkeys(ids, (0, None))
        rows = self.conn.execute(
            "SELECT c.claim_id, h.version, h.leaf_hash FROM unnest(%s::text[]) AS c (claim_id)"
            " CROSS JOIN LATERAL (SELECT version, leaf_hash FROM events e"
            " WHERE e.claim_id = c.claim_id ORDER BY version DESC LIMIT 1) h",
            (text_array(ids),),
        )
        for claim_id, version, leaf_hash in rows:
            heads[claim_id] = (version, leaf_hash)
        return heads

    def insert(self, events: Sequence[RecordedEvent], payloads: Sequence[bytes | None],
               nodes: Sequence[Node] = ()) -> None:
        kept = [(e.position, p.decode("utf-8")) for e, p in zip(events, payloads, strict=True)
                if p is not None]
        self.wrote = True
        self.conn.execute(_INSERT, (
            int_array(e.position for e in events),
            text_array([e.id for e in events]),
            text_array([e.claim_id for e in events]),
            int_array(e.version for e in events),
            text_array([e.type for e in events]),
            int_array(e.schema_version for e in events),
            text_array([e.occurred_at for e in events]),
            text_array([e.recorded_at for e in events]),
            text_array([e.actor for e in events]),
            text_array([metadata_json(e.metadata) for e in events]),
            text_array([e.payload_sha256 for e in events]),
            text_array([e.prev_hash for e in events]),
            text_array([e.leaf_hash for e in events]),
            int_array(n[0] for n in nodes),
            int_array(n[1] for n in nodes),
            bytea_array(n[2] for n in nodes),
            int_array(k[0] for k in kept),
            text_array([k[1] for k in kept]),
        ))

    def get_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Stored nodes among ``keys``."""
        return select_nodes(self.conn, keys)

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


def abort(conn: Conn) -> None:
    """Roll back an implicit transaction with writes before the pipeline's Sync commits it.

    ROLLBACK aborts it (the server warns that no transaction block is in progress). If
    it cannot be sent, the connection is closed, so no Sync follows.
    """
    try:
        conn.execute("ROLLBACK")
    except BaseException:
        conn.close()
