"""Failing fast while PostgreSQL is down, and healing the pool the moment it is back.

Left to itself, psycopg_pool makes every request wait its full ``timeout`` for a
connection while the database is down, and after the database returns keeps the
discarded connections' slots asleep in an exponential reconnect backoff. A store that
saw the database go away instead answers ``StoreUnavailable`` at once, probes with one
direct connection at most every ``interval`` seconds, and once a probe connects has the
pool test its idle connections (dropping the dead ones and connecting anew at once).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ...errors import StoreUnavailable

#: seconds between two probes of a database found down (per process)
PROBE_INTERVAL = 0.25
#: libpq's connect_timeout for a probe (its minimum is 2 seconds)
PROBE_CONNECT_TIMEOUT = 2


def connection_lost(error: BaseException, conn: psycopg.Connection[Any] | None) -> bool:
    """Whether ``error`` means the database is unreachable, not that a statement failed."""
    if isinstance(error, PoolTimeout):
        return True
    if isinstance(error, psycopg.OperationalError) and conn is not None:
        return conn.closed or conn.broken
    return False


class OutageGuard:
    """Remembers that the database was unreachable until a probe connects again."""

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self.url = url
        self.kwargs = kwargs
        self._down: str | None = None
        self._last_probe = 0.0
        self._probing = threading.Lock()

    @property
    def down(self) -> bool:
        """Whether the database was last seen unreachable."""
        return self._down is not None

    def lost(self, reason: str) -> None:
        """Record that the database could not be reached (the next request probes it)."""
        if self._down is None:
            self._last_probe = 0.0
        self._down = reason

    def admit(self, pool: ConnectionPool[Any]) -> None:
        """Return if the database is believed up; else probe it, or fail fast.

        One thread probes at a time and at most every ``PROBE_INTERVAL`` seconds; the
        others fail at once instead of queueing on the pool.
        """
        if self._down is None:
            return
        if not self._probing.acquire(blocking=False):
            raise StoreUnavailable(f"PostgreSQL: {self._down}")
        try:
            if self._down is None:
                return
            now = time.monotonic()
            if now - self._last_probe < PROBE_INTERVAL:
                raise StoreUnavailable(f"PostgreSQL: {self._down}")
            self._last_probe = now
            try:
                probe = psycopg.connect(
                    self.url, connect_timeout=PROBE_CONNECT_TIMEOUT, **self.kwargs
                )
            except psycopg.Error as exc:
                self._down = str(exc).strip() or type(exc).__name__
                raise StoreUnavailable(f"PostgreSQL: {self._down}") from exc
            probe.close()
            # drop the pool's dead idle connections now, and start connecting anew
            pool.check()
            self._down = None
        finally:
            self._probing.release()
