"""Desk sign-in sessions kept on the server, so signing out ends a session everywhere.

The desk's cookie carries only an opaque random session id; the store keeps the
SHA-256 of that id (a copy of the database yields no usable cookie) with the signed-in
token's hash, the session's CSRF token, a pending notice and an expiry (Unix seconds).
Deleting the row ends the session: a cookie copied before sign-out is refused after it.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg

#: migration (SQLite): the desk's sessions; rows are deleted on sign-out and expiry
SQLITE_MIGRATION = """
CREATE TABLE desk_sessions (
    id_sha256 TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    csrf TEXT NOT NULL,
    notice TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX desk_sessions_expiry ON desk_sessions (expires_at);
CREATE INDEX desk_sessions_token ON desk_sessions (token_sha256);
"""

#: migration (PostgreSQL): the same table
POSTGRES_MIGRATION = """
CREATE TABLE desk_sessions (
    id_sha256 TEXT COLLATE "C" PRIMARY KEY,
    token_sha256 TEXT COLLATE "C" NOT NULL,
    csrf TEXT NOT NULL,
    notice TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX desk_sessions_expiry ON desk_sessions (expires_at);
CREATE INDEX desk_sessions_token ON desk_sessions (token_sha256);
"""

@dataclass(frozen=True)
class SessionRecord:
    """One signed-in desk session as the store keeps it."""

    token_sha256: str
    csrf: str
    notice: str | None
    created_at: int
    expires_at: int


class SessionStore(ABC):
    """Create, find, annotate and end desk sessions (mixed into EventStore)."""

    @abstractmethod
    def create_session(self, id_sha256: str, record: SessionRecord) -> None:
        """Store a new session; sessions expired by ``record.created_at`` are deleted."""

    @abstractmethod
    def find_session(self, id_sha256: str, now: int) -> SessionRecord | None:
        """The session with this id hash, unless it ended or expired before ``now``."""

    @abstractmethod
    def set_session_notice(self, id_sha256: str, notice: str | None) -> None:
        """Set or clear the notice the session's next page shows."""

    @abstractmethod
    def delete_session(self, id_sha256: str) -> bool:
        """End a session; whether it existed."""


def _record(row: Any) -> SessionRecord | None:
    if row is None:
        return None
    return SessionRecord(str(row[0]), str(row[1]), row[2], int(row[3]), int(row[4]))


class SQLiteSessions(SessionStore):
    """Desk sessions in the SQLite file."""

    @abstractmethod
    def _guard(self) -> AbstractContextManager[sqlite3.Connection]:
        """The thread's connection, with errors mapped to StoreUnavailable."""

    def create_session(self, id_sha256: str, record: SessionRecord) -> None:
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "DELETE FROM desk_sessions WHERE expires_at <= ?", (record.created_at,)
                )
                conn.execute(
                    "INSERT INTO desk_sessions (id_sha256, token_sha256, csrf, notice, created_at,"
                    " expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (id_sha256, record.token_sha256, record.csrf, record.notice,
                     record.created_at, record.expires_at),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def find_session(self, id_sha256: str, now: int) -> SessionRecord | None:
        with self._guard() as conn:
            row = conn.execute(
                "SELECT token_sha256, csrf, notice, created_at, expires_at FROM desk_sessions"
                " WHERE id_sha256 = ? AND expires_at > ?",
                (id_sha256, now),
            ).fetchone()
        return _record(row)

    def set_session_notice(self, id_sha256: str, notice: str | None) -> None:
        with self._guard() as conn:
            conn.execute(
                "UPDATE desk_sessions SET notice = ? WHERE id_sha256 = ?", (notice, id_sha256)
            )

    def delete_session(self, id_sha256: str) -> bool:
        with self._guard() as conn:
            cur = conn.execute("DELETE FROM desk_sessions WHERE id_sha256 = ?", (id_sha256,))
            return bool(cur.rowcount)


class PostgresSessions(SessionStore):
    """Desk sessions in PostgreSQL."""

    @abstractmethod
    def _connection(self) -> AbstractContextManager[psycopg.Connection[tuple[Any, ...]]]:
        """A pooled connection, with errors mapped to StoreUnavailable."""

    def create_session(self, id_sha256: str, record: SessionRecord) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM desk_sessions WHERE expires_at <= %s", (record.created_at,)
            )
            conn.execute(
                "INSERT INTO desk_sessions (id_sha256, token_sha256, csrf, notice, created_at,"
                " expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (id_sha256, record.token_sha256, record.csrf, record.notice,
                 record.created_at, record.expires_at),
            )

    def find_session(self, id_sha256: str, now: int) -> SessionRecord | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT token_sha256, csrf, notice, created_at, expires_at FROM desk_sessions"
                " WHERE id_sha256 = %s AND expires_at > %s",
                (id_sha256, now),
            ).fetchone()
        return _record(row)

    def set_session_notice(self, id_sha256: str, notice: str | None) -> None:
        with self._connection() as conn:
            conn.execute(
                "UPDATE desk_sessions SET notice = %s WHERE id_sha256 = %s", (notice, id_sha256)
            )

    def delete_session(self, id_sha256: str) -> bool:
        with self._connection() as conn:
            cur = conn.execute("DELETE FROM desk_sessions WHERE id_sha256 = %s", (id_sha256,))
            return bool(cur.rowcount)
