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
