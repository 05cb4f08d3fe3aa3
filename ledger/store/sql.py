"""SQL both backends run, written once: statements with ``?`` placeholders in both styles.

A statement shared by SQLite (``qmark``: ``?``) and psycopg (``format``: ``%s``) is
written once with ``?`` and turned into both with ``styled`` at import time; a backend's
``Database`` says which of the two it takes (``QMARK`` or ``FORMAT``) and a recorder
picks it with ``STATEMENT[db.style]``. Shared statements hold no ``?`` other than
placeholders (a ``%`` is doubled for psycopg). The static SQL check
(tests/unit/test_static_security.py) accepts ``styled`` of constant text and a subscript
of such a constant, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

#: index of the ``?`` form of a styled statement (SQLite)
QMARK: Final = 0
#: index of the ``%s`` form of a styled statement (psycopg)
FORMAT: Final = 1


def styled(statement: str) -> tuple[str, str]:
    """A statement written with ``?`` placeholders, as ``(qmark form, format form)``."""
    return statement, statement.replace("%", "%%").replace("?", "%s")


class Connection(Protocol):
    """What recorders use of a connection: ``execute`` (sqlite3 and psycopg alike)."""

    def execute(self, statement: Any, params: Any = ..., /) -> Any:
        """Run one statement with bound parameters; a cursor."""


class Database(Protocol):
    """A backend's connections as the shared recorders see them."""

    @property
    def style(self) -> int:
        """``QMARK`` or ``FORMAT``: which form of a styled statement this driver takes."""

    @property
    def conflict(self) -> type[Exception]:
        """The driver's error for a violated unique constraint."""

    def connection(self) -> AbstractContextManager[Connection]:
        """A connection (autocommit), with availability errors as ``StoreUnavailable``."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction committed at the end, rolled back on error."""


_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS ledger_schema"
    " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
)
_APPLIED = "SELECT version FROM ledger_schema"
#: recording a migration with the time it was applied, in each dialect (QMARK, FORMAT)
_RECORD = (
    "INSERT INTO ledger_schema VALUES (?, strftime('%Y-%m-%dT%H:%M:%fZ'))",
    "INSERT INTO ledger_schema (version, applied_at) VALUES (%s, to_char("
    "clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))",
)


def apply_migrations(
    conn: Connection, style: int, scripts: Sequence[str], run: Callable[[Connection, str], None]
) -> None:
    """Run (with ``run``) the ``scripts`` not yet recorded in ``ledger_schema``, in order,
    recording each; the caller holds the transaction."""
    conn.execute(_SCHEMA_TABLE)
    done = {r[0] for r in conn.execute(_APPLIED)}
    for number, script in enumerate(scripts, start=1):
        if number not in done:
            run(conn, script)
            conn.execute(_RECORD[style], (number,))
