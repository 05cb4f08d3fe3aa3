"""The PostgreSQL event store: psycopg 3, a lazily opened pool, an advisory append lock.

Columns mirror the SQLite backend exactly (times and hashes as text, payloads as the
exact canonical JSON text, never jsonb), so both backends export byte-identical logs.
Appends serialise on ``pg_advisory_xact_lock(APPEND_LOCK_KEY)``, taken first thing in
the write transaction and released by its commit: positions are gap-free and become
visible in position order, so a reader tailing ``position > last_seen`` never skips.
A URL may pick a schema the libpq way: ``postgresql://…?options=-csearch_path%3Dname``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ...envelope import RecordedEvent
from ..base import EventStore
from ..caches import ROLL_FORWARD_LIMIT, Leaf
from ..events import EVENT_COLUMNS, HEAD, LEAVES_SINCE
from ..rows import collector_paused, event_from_row
from ..sql import FORMAT
from ..tree import SQLNodes
from ..writing import WriteTransaction
from .connection import PostgresDatabase
from .schema import migrate
from .tree import level_nodes, select_nodes
from .write import LOCK_APPEND, PostgresWrite, abort

#: ``read_all``'s page: the joins bounded below as well, or PostgreSQL merge-joins the
#: payloads from position 1 on every page (20,000 index entries read for a page of
#: 1,000 at 21,000 events, a million at a million)
SELECT_PAGE = (
    EVENT_COLUMNS + " LEFT JOIN payloads p ON p.position = e.position AND p.position > %(after)s"
    " LEFT JOIN redactions r ON r.position = e.position AND r.position > %(after)s"
    " WHERE e.position > %(after)s ORDER BY e.position LIMIT %(limit)s"
)


class PostgresEventStore(EventStore):
    """An event store in PostgreSQL; one connection pool per process, opened on first use."""

    backend = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10, timeout: float = 10.0) -> None:
        self.db = PostgresDatabase(url, pool_size, timeout)
        self.url, self.pool_size, self.timeout = url, pool_size, timeout
        super().__init__(self.db, SQLNodes(self.db, select_nodes, level_nodes), migrate)

    @contextmanager
    def write_transaction(self) -> Iterator[WriteTransaction]:
        """The lock, the head and the leaves appended since this process's caches: one round
        trip; the writes and the commit share another.

        The transaction is the pipeline's implicit one (no BEGIN; its Sync commits), and
        the connection's default isolation is READ COMMITTED, so the head is read with a
        snapshot taken after the lock was granted. Reads in the body wait for their
        results; writes travel with the Sync.
        """
        known = self._heads.position  # where this process's append caches stand
        with self.db.connection() as conn, conn.pipeline():
            conn.execute(LOCK_APPEND)
            head = conn.execute(HEAD)
            # what other writers appended since, for the caches' roll-forward, in the same
            # round trip: with several hosts appending in turn nearly every append needs it
            later = (conn.execute(LEAVES_SINCE[FORMAT], (known, ROLL_FORWARD_LIMIT))
                     if known >= 0 else None)
            row = head.fetchone()
            tx = PostgresWrite(
                conn, (row[0], row[1]) if row else (0, None),
                None if later is None else (known, [Leaf(*r) for r in later.fetchall()]),
            )
            try:
                yield tx
            except BaseException:
                if tx.wrote:
                    abort(conn)
                raise

    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        # the rows in binary (no integer parsing) and all at once: iterating the cursor
        # costs a Python call per row
        with self.db.connection() as conn, collector_paused():
            rows = conn.execute(
                SELECT_PAGE, {"after": after, "limit": limit}, binary=True
            ).fetchall()
            return [event_from_row(r) for r in rows]

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the database cannot be reached."""
        with self.db.connection() as conn:
            conn.execute("SELECT 1 FROM ledger_schema LIMIT 1").fetchall()

    def close(self) -> None:
        """Close this process's pool."""
        self.db.close()
