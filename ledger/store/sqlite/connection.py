"""The SQLite file's connections: one per thread (never one inherited through fork), in
WAL mode with synchronous FULL, availability faults raised as ``StoreUnavailable``, and
writers queued on a file lock before SQLite's own."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ...durable import make_directories
from ...errors import StoreUnavailable
from ..sql import QMARK

#: connections inherited across fork: kept referenced so this process never closes them
_INHERITED: list[sqlite3.Connection] = []
#: how many times this process's ancestry forked: a thread's connection or lock file
#: opened at another count is a parent's (cheaper than asking ``getpid`` every append)
_forks = [0]


def _forked() -> None:
    _forks[0] += 1


os.register_at_fork(after_in_child=_forked)


class SQLiteDatabase:
    """The connections to one SQLite file (a ``sql.Database``)."""

    style = QMARK
    conflict = sqlite3.IntegrityError

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        """Connect lazily to ``path``, waiting up to ``busy_timeout_ms`` for locks."""
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()

    def connect(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if self._local.fork == _forks[0]:
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
        self._local.conn, self._local.fork = conn, _forks[0]
        self._local.cursor = conn.cursor()
        return conn

    def cursor(self) -> sqlite3.Cursor:
        """A cursor of this thread's connection, kept for the appends' statements (a new
        cursor per statement costs about as much as running a short one)."""
        self.connect()
        cursor: sqlite3.Cursor = self._local.cursor
        return cursor

    @contextmanager
    def guard(self) -> Iterator[sqlite3.Connection]:
        """Availability faults (disk full, read-only, I/O errors, locks) as ``StoreUnavailable``."""
        conn = self.connect()
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from exc
        except OSError as exc:  # the writer lock file on a full or read-only file system
            raise StoreUnavailable(f"SQLite: {exc}") from exc

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """The thread's connection, with availability faults as ``StoreUnavailable``."""
        return self.guard()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The thread's connection in a ``BEGIN IMMEDIATE`` transaction, committed at the end."""
        with self.guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def writer_queue(self) -> Iterator[int | None]:
        """The writer lock file's descriptor (None in memory), held for the block."""
        fd = self.writer_lock()
        if fd is None:
            yield None
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def writer_lock(self) -> int | None:
        """This thread's descriptor of the writer lock file (None in memory).

        Writers queue on an advisory ``flock`` of it before SQLite's own write lock:
        SQLite makes a writer that finds the database locked sleep and poll (1, 2, 5 …
        100 ms), so several API processes appending at once spend most of their time
        asleep; ``flock`` instead wakes the next writer the moment the lock is released.
        Each thread opens the file itself, since ``flock`` belongs to an open file.
        """
        if self.path == ":memory:":
            return None
        fd: int | None = getattr(self._local, "lock_fd", None)
        if fd is not None and self._local.lock_fork != _forks[0]:
            os.close(fd)  # the parent's, inherited through fork
            fd = None
        if fd is None:
            fd = os.open(self.path + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
            self._local.lock_fd, self._local.lock_fork = fd, _forks[0]
        return fd

    def close(self) -> None:
        """Close this thread's connection and lock file (never a parent's)."""
        fd = getattr(self._local, "lock_fd", None)
        if fd is not None:
            os.close(fd)
            self._local.lock_fd = None
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if self._local.fork == _forks[0]:
                # a failed append's traceback can outlive the store and still hold the kept
                # cursor; its unfinished statement would leave the connection open
                # (sqlite3_close_v2 defers while any statement lives), files and all
                self._local.cursor.close()
                conn.close()
            else:
                _INHERITED.append(conn)
            self._local.conn = self._local.cursor = None



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


def check_writable(path: str) -> None:
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


