"""The SQLite event store: WAL, synchronous FULL, ``BEGIN IMMEDIATE`` as the append lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ..durable import make_directories
from ..envelope import RecordedEvent
from ..errors import StoreUnavailable
from ..merkle import Node
from .base import EventStore
from .cosignatures import SQLITE_MIGRATION as COSIGNATURES_MIGRATION
from .events import CORRECTIONS_INDEX, HEAD, SELECT_EVENTS, SQLWriteTransaction, claim_page
from .rotations import SQLITE_MIGRATION as ROTATIONS_MIGRATION
from .rows import collector_paused, event_from_row
from .sessions import SQLITE_MIGRATION as SESSIONS_MIGRATION
from .sql import QMARK
from .sqlite_local import check_one_host
from .sqlite_tree import KEYED_MIGRATION, SQLiteNodes, SQLiteTreeWrite, insert_rows
from .sqlite_tree import MIGRATION as TREE_MIGRATION
from .writing import WriteTransaction, metadata_json

MIGRATIONS: list[str] = [
    # 1: the log, its payloads, idempotency keys; UPDATE/DELETE refused by triggers
    """
    CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        claim_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        metadata TEXT NOT NULL,
        payload_sha256 TEXT NOT NULL,
        prev_hash TEXT,
        leaf_hash TEXT NOT NULL,
        UNIQUE (claim_id, version)
    );
    CREATE TABLE payloads (
        position INTEGER PRIMARY KEY REFERENCES events (position),
        data TEXT NOT NULL
    );
    CREATE TABLE idempotency_keys (
        actor TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        first_position INTEGER NOT NULL,
        last_position INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (actor, key)
    );
    CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on events refused'); END;
    CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on events refused'); END;
    CREATE TRIGGER payloads_refuse_update BEFORE UPDATE ON payloads
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on payloads refused'); END;
    CREATE TRIGGER payloads_refuse_delete BEFORE DELETE ON payloads
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on payloads refused'); END;
    """,
    # 2: API tokens (hash only) and the log of who created or revoked them
    """
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
    );
    CREATE TABLE api_token_log (
        seq INTEGER PRIMARY KEY,
        token_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 3: tree nodes, checkpoints, redactions; payloads deletable only once redacted
    TREE_MIGRATION,
    # 4: tree nodes keyed in append order
    KEYED_MIGRATION,
    # 5: desk sessions, revocable on the server
    SESSIONS_MIGRATION,
    # 6: witness cosignatures of checkpoints
    COSIGNATURES_MIGRATION,
    # 7: a claim's corrections found without reading its other events (the desk's pages)
    CORRECTIONS_INDEX,
    # 8: signing-key rotations of the checkpoints (`claimledger rotate-key`)
    ROTATIONS_MIGRATION,
]

#: connections inherited across fork: kept referenced so this process never closes them
_INHERITED: list[sqlite3.Connection] = []

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


_READ_ALL = SELECT_EVENTS + " WHERE e.position > ? ORDER BY e.position LIMIT ?"
_INSERT_EVENTS = (
    "INSERT INTO events (position, id, claim_id, version, type, schema_version,"
    " occurred_at, recorded_at, actor, metadata, payload_sha256, prev_hash, leaf_hash) VALUES "
)
_EVENT_ROW = "(?,?,?,?,?,?,?,?,?,?,?,?,?)"
_INSERT_PAYLOADS = "INSERT INTO payloads (position, data) VALUES "


class _SQLiteWrite(SQLiteTreeWrite, SQLWriteTransaction):
    """A write transaction on the thread's connection, after ``BEGIN IMMEDIATE``."""

    style = QMARK

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def head(self) -> tuple[int, str | None]:
        row = self.conn.execute(HEAD).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def claim_head(self, claim_id: str) -> tuple[int, str | None]:
        row = self.conn.execute(
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


class SQLiteEventStore(EventStore):
    """An event store in one SQLite file; one connection per thread."""

    backend = "sqlite"
    style = QMARK
    conflict = sqlite3.IntegrityError

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = 30000) -> None:
        check_one_host(path)  # one host per file: a network file system is refused
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        super().__init__(self, SQLiteNodes(self))

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if self._local.pid == os.getpid():
                return conn
            _INHERITED.append(conn)  # forked: never use (nor finalise) the parent's connection
        if self.path != ":memory:":
            _create_private(self.path)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            _enable_wal(conn, self.busy_timeout_ms / 1000)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Availability faults (disk full, read-only, I/O errors, locks) as ``StoreUnavailable``."""
        conn = self._connect()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except OSError as exc:  # the writer lock file on a full or read-only file system
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """The thread's connection, with availability faults as ``StoreUnavailable``."""
        return self._guard()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The thread's connection in a ``BEGIN IMMEDIATE`` transaction, committed at the end."""
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def init(self) -> None:
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS ledger_schema"
                    " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT version FROM ledger_schema")}
                for number, script in enumerate(MIGRATIONS, start=1):
                    if number in done:
                        continue
                    for statement in _split(script):
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO ledger_schema VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
                        (number,),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @contextmanager
    def write_transaction(self) -> Iterator[WriteTransaction]:
        with self._guard() as conn, self._writer_queue() as lock_fd:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteWrite(conn)
                conn.execute("COMMIT")
                self._check_commit_durable(lock_fd)
            except BaseException:
                if conn.in_transaction:  # also after a failed COMMIT, which keeps the lock
                    conn.execute("ROLLBACK")
                raise

    def _check_commit_durable(self, lock_fd: int | None) -> None:
        """Refuse to acknowledge a commit made while ext4 was turning read-only.

        An ext4 error aborts the journal first and sets its read-only flag only after the
        error is written to the superblock. A commit in between can be told its fsync
        succeeded although the WAL's new length was in an aborted journal transaction
        (docs/reliability.md, "A disk turned read-only"). Opening a file for writing looks
        only at the read-only flag, so it passes in that window; changing a file's length
        needs a journal transaction, which an aborted journal refuses. So the writer lock
        file's length flips between 0 and 1 (no fsync: only the refusal matters), under
        the append lock, after every commit. An abort is sticky: if this succeeds, the
        journal had not been aborted when the commit synced, so the sync's answer stands.
        """
        if lock_fd is None:
            return
        try:
            os.ftruncate(lock_fd, 0 if os.fstat(lock_fd).st_size else 1)
        except OSError as exc:
            raise StoreUnavailable(
                "the ledger's file system failed during the commit, so it may not be durable:"
                f" retry with the same Idempotency-Key once the disk is repaired ({exc.strerror})"
            ) from exc

    @contextmanager
    def _writer_queue(self) -> Iterator[int | None]:
        """Queue writers on an advisory file lock before SQLite's own write lock.

        SQLite makes a writer that finds the database locked sleep and poll (1, 2, 5 …
        100 ms), so several API processes appending at once spend most of their time
        asleep; ``flock`` instead wakes the next writer the moment the lock is released.
        Each thread opens the lock file itself, since ``flock`` belongs to an open file.
        """
        if self.path == ":memory:":
            yield None
            return
        fd: int | None = getattr(self._local, "lock_fd", None)
        if fd is not None and self._local.lock_pid != os.getpid():
            os.close(fd)  # the parent's, inherited through fork
            fd = None
        if fd is None:
            fd = os.open(self.path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._local.lock_fd, self._local.lock_pid = fd, os.getpid()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def read_claim_json(
        self, claim_id: str, *, as_of: str | None = None, after: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, str]]:
        # SQLite writes the envelope: the payload text is passed through, not decoded
        # and encoded again (a third of a history answer's time)
        where, params = claim_page(QMARK, claim_id, as_of, after, limit)
        with self._guard() as conn:
            rows = conn.execute(_ENVELOPES + where, params)
            return [
                (version, text if actor is None else _with_redaction(text, actor, reason, at))
                for version, text, actor, reason, at in rows
            ]

    def read_all_json(self, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        # as read_claim_json: SQLite writes each envelope, the payload text passed through
        with self._guard() as conn:
            rows = conn.execute(
                _ENVELOPES_BY_POSITION + " WHERE e.position > ? ORDER BY e.position LIMIT ?",
                (after, limit),
            )
            return [
                (position, text if actor is None else _with_redaction(text, actor, reason, at))
                for position, text, actor, reason, at in rows
            ]

    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        with self._guard() as conn, collector_paused():
            rows = conn.execute(_READ_ALL, (after, limit)).fetchall()
            return [event_from_row(r) for r in rows]

    def redact(
        self, event_id: str, *, actor: str, reason: str, at: str | None = None
    ) -> RecordedEvent:
        """As ``EventStore.redact``, with ``secure_delete``: the payload's bytes are zeroed
        in its page and in any page it frees, not merely marked free."""
        with self._guard() as conn:
            before = bool(conn.execute("PRAGMA secure_delete").fetchone()[0])
            conn.execute("PRAGMA secure_delete = ON")
        try:
            return super().redact(event_id, actor=actor, reason=reason, at=at)
        finally:
            with self._guard() as conn:
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
            with self._guard() as conn:
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
        with self._guard() as conn:
            conn.execute("SELECT 1 FROM ledger_schema LIMIT 1").fetchall()
        if self.path != ":memory:":
            _check_writable(self.path)

    def close(self) -> None:
        fd = getattr(self._local, "lock_fd", None)
        if fd is not None:
            os.close(fd)
            self._local.lock_fd = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if self._local.pid == os.getpid():
                conn.close()
            else:
                _INHERITED.append(conn)
            self._local.conn = None


def _create_private(path: str) -> None:
    """Create a missing database file (and its directory) readable by its owner only.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, so all three
    are 0600: they hold every payload, internal note and token hash.
    """
    if os.path.exists(path):
        return
    make_directories(Path(path).parent, mode=0o700)  # synced: a power loss keeps them
    with contextlib.suppress(OSError):  # not creatable: sqlite3.connect reports why
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


#: below this much free space on its file system the database counts as full
MIN_FREE_BYTES = 1 << 20


def _check_writable(path: str) -> None:
    """Raise ``StoreUnavailable`` if the database at ``path`` could not take a write now.

    Reads go on working on a full or read-only disk, so a read alone would call a store
    ready that refuses every append. Opening the writer lock file for writing fails on a
    read-only file system, also one ext4 made read-only after an error (``emergency_ro``,
    which ``statvfs`` does not report).
    """
    try:
        os.close(os.open(path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600))
        fs = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise StoreUnavailable(f"SQLite: cannot write beside {path}: {exc}") from exc
    # root may also write into the blocks reserved for it
    free = (fs.f_bfree if os.geteuid() == 0 else fs.f_bavail) * fs.f_frsize
    if free < MIN_FREE_BYTES:
        raise StoreUnavailable(f"SQLite: the disk holding {path} is full ({free} bytes free)")


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch to WAL; the switch ignores busy_timeout, so retry while others open the file."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _split(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements
