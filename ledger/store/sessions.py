"""Desk sign-in sessions kept on the server, so signing out ends a session everywhere.

The desk's cookie carries only an opaque random session id; the store keeps the
SHA-256 of that id (a copy of the database yields no usable cookie) with the signed-in
token's hash, the session's CSRF token, a pending notice and an expiry (Unix seconds).
Deleting the row ends the session: a cookie copied before sign-out is refused after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .sql import Database, styled

#: the table (both backends; ``{int}`` a 64-bit integer, ``{key}`` text compared
#: bytewise), formatted by each backend's schema
TABLE = """
CREATE TABLE desk_sessions (
    id_sha256 {key} PRIMARY KEY,
    token_sha256 {key} NOT NULL,
    csrf TEXT NOT NULL,
    notice TEXT,
    created_at {int} NOT NULL,
    expires_at {int} NOT NULL
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


class SessionRecorder(Protocol):
    """Create, find, annotate and end desk sessions."""

    def create_session(self, id_sha256: str, record: SessionRecord) -> None:
        """Store a new session; sessions expired by ``record.created_at`` are deleted."""

    def find_session(self, id_sha256: str, now: int) -> SessionRecord | None:
        """The session with this id hash, unless it ended or expired before ``now``."""

    def set_session_notice(self, id_sha256: str, notice: str | None) -> None:
        """Set or clear the notice the session's next page shows."""

    def delete_session(self, id_sha256: str) -> bool:
        """End a session; whether it existed."""


_EXPIRE = styled("DELETE FROM desk_sessions WHERE expires_at <= ?")
_INSERT = styled(
    "INSERT INTO desk_sessions (id_sha256, token_sha256, csrf, notice, created_at, expires_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_FIND = styled(
    "SELECT token_sha256, csrf, notice, created_at, expires_at FROM desk_sessions"
    " WHERE id_sha256 = ? AND expires_at > ?"
)
_NOTICE = styled("UPDATE desk_sessions SET notice = ? WHERE id_sha256 = ?")
_DELETE = styled("DELETE FROM desk_sessions WHERE id_sha256 = ?")


def _record(row: Any) -> SessionRecord | None:
    if row is None:
        return None
    return SessionRecord(str(row[0]), str(row[1]), row[2], int(row[3]), int(row[4]))


class SQLSessions:
    """Desk sessions in the ``desk_sessions`` table."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def create_session(self, id_sha256: str, record: SessionRecord) -> None:
        """Store a new session and delete the expired ones, in one transaction."""
        style = self._db.style
        with self._db.transaction() as conn:
            conn.execute(_EXPIRE[style], (record.created_at,))
            conn.execute(_INSERT[style], (id_sha256, record.token_sha256, record.csrf,
                                          record.notice, record.created_at, record.expires_at))

    def find_session(self, id_sha256: str, now: int) -> SessionRecord | None:
        """The session with this id hash, unless it ended or expired before ``now``."""
        with self._db.connection() as conn:
            row = conn.execute(_FIND[self._db.style], (id_sha256, now)).fetchone()
        return _record(row)

    def set_session_notice(self, id_sha256: str, notice: str | None) -> None:
        """Set or clear the notice the session's next page shows."""
        with self._db.connection() as conn:
            conn.execute(_NOTICE[self._db.style], (notice, id_sha256))

    def delete_session(self, id_sha256: str) -> bool:
        """End a session; whether it existed."""
        with self._db.connection() as conn:
            return bool(conn.execute(_DELETE[self._db.style], (id_sha256,)).rowcount)
