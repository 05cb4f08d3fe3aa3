"""PostgreSQL connections: a pool per process opened on first use (never one inherited
through fork), READ COMMITTED, failing fast while the database is down (``outage``)."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Final

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from ...errors import StoreUnavailable
from ..sql import FORMAT
from .outage import OutageGuard, connection_lost

#: errors meaning the database cannot be reached or used right now
_UNAVAILABLE: Final = (
    psycopg.OperationalError,  # includes the pool's PoolTimeout and PoolClosed
    psycopg.errors.UndefinedTable,  # schema not initialised
    psycopg.errors.InvalidSchemaName,
    psycopg.errors.ReadOnlySqlTransaction,  # connected to a standby
)

Conn = psycopg.Connection[tuple[Any, ...]]

#: pools inherited across fork: kept referenced so this process never finalises them
_INHERITED: list[object] = []
_DATABASES: weakref.WeakSet[PostgresDatabase] = weakref.WeakSet()


class PostgresDatabase:
    """The connections to one PostgreSQL database (a ``sql.Database``)."""

    style = FORMAT
    conflict = psycopg.errors.UniqueViolation

    def __init__(self, url: str, pool_size: int, timeout: float) -> None:
        """Check the URL; the pool opens on first use."""
        try:
            params = conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"invalid PostgreSQL URL: {exc}") from None
        self.url = url
        self.pool_size = pool_size
        self.timeout = timeout
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "application_name" not in params:
            self._kwargs["application_name"] = "claim-ledger"
        self._pool: ConnectionPool[Conn] | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._outage = OutageGuard(url, self._kwargs)
        _DATABASES.add(self)

    def after_fork(self) -> None:
        """In a forked child: forget (but never close) the parent's pool."""
        if self._pool is not None:
            _INHERITED.append(self._pool)
        self._pool = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._outage = OutageGuard(self.url, self._kwargs)

    def _get_pool(self) -> ConnectionPool[Conn]:
        """This process's pool, made (not yet connected) on first use."""
        if self._pid != os.getpid():  # forked without the at-fork hook
            self.after_fork()
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    kwargs=self._kwargs,
                    min_size=1,
                    max_size=max(1, self.pool_size),
                    timeout=self.timeout,
                    configure=_configure,
                    name="claim-ledger",
                    # a slot whose reconnection keeps failing is dropped (and regrown on
                    # demand) instead of sleeping in a backoff long after the database is back
                    reconnect_timeout=self.timeout,
                    open=False,
                )
                self._pool.open(wait=False)
            return self._pool

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        pool = self._get_pool()
        self._outage.admit(pool)  # fails fast while the database is known to be down
        conn: Conn | None = None
        try:
            conn = pool.getconn()
            try:
                yield conn
            finally:  # the pool rolls back or discards a connection not left idle
                pool.putconn(conn)
        except _UNAVAILABLE as exc:
            reason = str(exc).strip() or type(exc).__name__
            if connection_lost(exc, conn):
                self._outage.lost(reason)
            raise StoreUnavailable(f"PostgreSQL: {reason}") from exc

    def connection(self) -> AbstractContextManager[Conn]:
        """A pooled connection (autocommit), with availability errors as ``StoreUnavailable``."""
        return self._connection()

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        """A pooled connection in a transaction, committed at the end."""
        with self._connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close()



def _configure(conn: Conn) -> None:
    """Each new connection: READ COMMITTED, so statements after the lock see its last holder.

    Appends run in the pipeline's implicit transaction, which no BEGIN ISOLATION LEVEL
    can reach: under a REPEATABLE READ or SERIALIZABLE server default its snapshot would
    predate the lock.
    """
    conn.execute("SET default_transaction_isolation TO 'read committed'")


def _after_fork_in_child() -> None:
    for database in list(_DATABASES):
        database.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
