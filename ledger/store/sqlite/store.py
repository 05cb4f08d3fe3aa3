"""The SQLite event store: WAL, synchronous FULL, ``BEGIN IMMEDIATE`` as the append lock."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ...envelope import NewEvent, RecordedEvent
from ...errors import StoreUnavailable
from ..base import EventStore
from ..events import SELECT_EVENTS, claim_page
from ..rows import collector_paused, event_from_row
from ..single import Appended, append_one, prepare
from ..sql import QMARK
from ..tree import SQLNodes
from ..writing import Idempotency, WriteTransaction
from .connection import SQLiteDatabase, check_writable
from .local import check_one_host
from .schema import migrate
from .tree import level_nodes, select_nodes
from .write import SQLiteWrite

#: each envelope as ``RecordedEvent.to_json`` gives it, in its key order
_ENVELOPE_COLUMNS = (
    " json_object('id', e.id, 'claim_id', e.claim_id, 'version', e.version,"
    " 'position', e.position, 'type', e.type, 'schema_version', e.schema_version,"
    " 'data', json(p.data), 'occurred_at', e.occurred_at, 'recorded_at', e.recorded_at,"
    " 'actor', e.actor, 'metadata', json(e.metadata), 'payload_sha256', e.payload_sha256,"
    " 'prev_hash', e.prev_hash, 'leaf_hash', e.leaf_hash), r.actor, r.reason, r.redacted_at"
    " FROM events e LEFT JOIN payloads p ON p.position = e.position"
    " LEFT JOIN redactions r ON r.position = e.position"
)
_ENVELOPES = "SELECT e.version," + _ENVELOPE_COLUMNS

#: the same, keyed by position instead of version
_ENVELOPES_BY_POSITION = "SELECT e.position," + _ENVELOPE_COLUMNS


def _with_redaction(envelope: str, actor: str, reason: str, redacted_at: str) -> str:
    """An ``_ENVELOPES`` text with its redaction added last, as ``to_json`` places it."""
    redaction = {"actor": actor, "reason": reason, "redacted_at": redacted_at}
    return envelope[:-1] + ',"redaction":' + json.dumps(
        redaction, ensure_ascii=False, separators=(",", ":")
    ) + "}"


#: the writer lock file's lengths one-event appends cycle through (``_check_commit_durable``)
_LENGTHS = 1 << 20

_READ_ALL = SELECT_EVENTS + " WHERE e.position > ? ORDER BY e.position LIMIT ?"


class SQLiteEventStore(EventStore):
    """An event store in one SQLite file; one connection per thread."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30000) -> None:
        check_one_host(path)  # one host per file: a network file system is refused
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.db = SQLiteDatabase(self.path, busy_timeout_ms)
        super().__init__(self.db, SQLNodes(self.db, select_nodes, level_nodes), migrate)

    @contextmanager
    def write_transaction(self) -> Iterator[WriteTransaction]:
        # what db.guard and db.writer_queue do, in one generator: every append runs this,
        # and two more nested context managers cost about as much as a statement
        conn = self.db.connect()
        try:
            lock_fd = self.db.writer_lock()
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield SQLiteWrite(conn)
                    conn.execute("COMMIT")
                    self._check_commit_durable(lock_fd)
                except BaseException:
                    if conn.in_transaction:  # also after a failed COMMIT, which keeps the lock
                        conn.execute("ROLLBACK")
                    raise
            finally:
                if lock_fd is not None:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except sqlite3.OperationalError as exc:  # as db.guard
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except OSError as exc:  # the writer lock file on a full or read-only file system
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    def _write_one(self, new: NewEvent, actor: str, expected: Mapping[str, int] | None,
                   idempotency: Idempotency | None, now: datetime | None) -> Appended:
        # write_transaction's steps written out, the connection's kept cursor running the
        # statements: a one-event append's transaction cost a tenth of its instructions
        db = self.db
        prepared = prepare(new)  # before the lock: it does not depend on the log's head
        try:
            cursor = db.cursor()
            lock_fd = db.writer_lock()
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    done = append_one(SQLiteWrite(cursor.connection, cursor),
                                      (self._heads, self._frontier, self.scales),
                                      new, actor, expected, idempotency, now, prepared)
                    cursor.execute("COMMIT")
                    # the new head names a length no writer left (2 and up): no fstat
                    self._check_commit_durable(
                        lock_fd, None if done.tree is None else 2 + (done.before + 1) % _LENGTHS
                    )
                    return done
                except BaseException:
                    if cursor.connection.in_transaction:  # also after a failed COMMIT
                        cursor.execute("ROLLBACK")
                    raise
            finally:
                if lock_fd is not None:
                    fcntl.flock(lock_fd, fcntl.LOCK_UN)
        except sqlite3.OperationalError as exc:  # as db.guard
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except OSError as exc:  # the writer lock file on a full or read-only file system
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    def _check_commit_durable(self, lock_fd: int | None, length: int | None = None) -> None:
        """Refuse to acknowledge a commit made while ext4 was turning read-only.

        An ext4 error aborts the journal first and sets its read-only flag only after the
        error is written to the superblock. A commit in between can be told its fsync
        succeeded although the WAL's new length was in an aborted journal transaction
        (docs/reliability.md, "A disk turned read-only"). Opening a file for writing looks
        only at the read-only flag, so it passes in that window; changing a file's length
        needs a journal transaction, which an aborted journal refuses. So the writer lock
        file's length changes (no fsync: only the refusal matters), under the append lock,
        after every commit. An abort is sticky: if this succeeds, the journal had not been
        aborted when the commit synced, so the sync's answer stands.

        The length must differ from the one the last commit left, or the kernel has no
        change to journal. Most writes flip it between 0 and 1 (``fstat`` says which); a
        one-event append passes ``length``, 2 plus its position modulo ``_LENGTHS``,
        which differs from both and from the length the append before it left.
        """
        if lock_fd is None:
            return
        try:
            os.ftruncate(lock_fd, (0 if os.fstat(lock_fd).st_size else 1) if length is None
                         else length)
        except OSError as exc:
            raise StoreUnavailable(
                "the ledger's file system failed during the commit, so it may not be durable:"
                f" retry with the same Idempotency-Key once the disk is repaired ({exc.strerror})"
            ) from exc

    def read_claim_json(
        self, claim_id: str, *, as_of: str | None = None, after: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, str]]:
        # SQLite writes the envelope: the payload text is passed through, not decoded
        # and encoded again (a third of a history answer's time)
        where, params = claim_page(QMARK, claim_id, as_of, after, limit)
        with self.db.guard() as conn:
            rows = conn.execute(_ENVELOPES + where, params)
            return [
                (version, text if actor is None else _with_redaction(text, actor, reason, at))
                for version, text, actor, reason, at in rows
            ]

    def read_all_json(self, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        # as read_claim_json: SQLite writes each envelope, the payload text passed through
        with self.db.guard() as conn:
            rows = conn.execute(
                _ENVELOPES_BY_POSITION + " WHERE e.position > ? ORDER BY e.position LIMIT ?",
                (after, limit),
            )
            return [
                (position, text if actor is None else _with_redaction(text, actor, reason, at))
                for position, text, actor, reason, at in rows
            ]

    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        with self.db.guard() as conn, collector_paused():
            rows = conn.execute(_READ_ALL, (after, limit)).fetchall()
            return [event_from_row(r) for r in rows]

    def redact(
        self, event_id: str, *, actor: str, reason: str, at: str | None = None
    ) -> RecordedEvent:
        """As ``EventStore.redact``, with ``secure_delete``: the payload's bytes are zeroed
        in its page and in any page it frees, not merely marked free."""
        with self.db.guard() as conn:
            before = bool(conn.execute("PRAGMA secure_delete").fetchone()[0])
            conn.execute("PRAGMA secure_delete = ON")
        try:
            return super().redact(event_id, actor=actor, reason=reason, at=at)
        finally:
            with self.db.guard() as conn:
                if not before:
                    conn.execute("PRAGMA secure_delete = OFF")

    def forget_deleted(self, timeout: float = 10.0) -> str:
        """Checkpoint the whole write-ahead log into the file and truncate it.

        After ``redact`` the WAL still holds earlier copies of the payload's page; this
        writes the latest pages into the database and empties the WAL. It waits up to
        ``timeout`` seconds for readers on older snapshots, then raises
        ``StoreUnavailable``. Returns what it did, in words.
        """
        if self.path == ":memory:":
            return "an in-memory database has no write-ahead log"
        deadline = time.monotonic() + timeout
        while True:
            with self.db.guard() as conn:
                busy, frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            wal = Path(self.path + "-wal")
            if not busy and (not wal.exists() or wal.stat().st_size == 0):
                return (
                    f"checkpointed the write-ahead log ({frames} pages) and truncated it; the"
                    " deleted payload's bytes were overwritten"
                )
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    "SQLite: readers kept the write-ahead log from being checkpointed; it may"
                    " still hold the deleted payload"
                )
            time.sleep(0.05)

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database reads and its disk could take a write."""
        with self.db.guard() as conn:
            conn.execute("SELECT 1 FROM ledger_schema LIMIT 1").fetchall()
        if self.path != ":memory:":
            check_writable(self.path)

    def close(self) -> None:
        """Release this thread's connection and writer lock file."""
        self.db.close()
