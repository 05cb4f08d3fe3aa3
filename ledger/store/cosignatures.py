"""Witness cosignatures of the log's checkpoints, kept beside the checkpoints they sign.

One row per checkpoint size and witness key (name and key id): the cosignature's note
line and its timestamp; a later cosignature of the same size by the same key replaces
an older one. The largest size a witness cosigned is where the next request to it
starts (its ``old`` size).
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import psycopg

#: migration (SQLite): witness cosignatures of stored checkpoints
SQLITE_MIGRATION = """
CREATE TABLE cosignatures (
    size INTEGER NOT NULL CHECK (size >= 0),
    witness TEXT NOT NULL,
    key_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    line TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (size, witness, key_id)
);
CREATE INDEX cosignatures_witness ON cosignatures (witness, key_id, size);
"""

#: migration (PostgreSQL): the same table
POSTGRES_MIGRATION = """
CREATE TABLE cosignatures (
    size BIGINT NOT NULL CHECK (size >= 0),
    witness TEXT COLLATE "C" NOT NULL,
    key_id TEXT COLLATE "C" NOT NULL,
    timestamp BIGINT NOT NULL,
    line TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (size, witness, key_id)
);
CREATE INDEX cosignatures_witness ON cosignatures (witness, key_id, size);
"""

_UPSERT = (
    "INSERT INTO cosignatures (size, witness, key_id, timestamp, line, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (size, witness, key_id) DO UPDATE SET"
    " timestamp = excluded.timestamp, line = excluded.line, received_at = excluded.received_at"
    " WHERE excluded.timestamp > cosignatures.timestamp"
)
_AT = (
    "SELECT size, witness, key_id, timestamp, line, received_at FROM cosignatures"
    " WHERE size = ? ORDER BY witness, key_id"
)
_LATEST = "SELECT max(size) FROM cosignatures WHERE witness = ? AND key_id = ?"
# the same statements with psycopg's placeholders
_PG_UPSERT = (
    "INSERT INTO cosignatures (size, witness, key_id, timestamp, line, received_at)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (size, witness, key_id) DO UPDATE SET"
    " timestamp = excluded.timestamp, line = excluded.line, received_at = excluded.received_at"
    " WHERE excluded.timestamp > cosignatures.timestamp"
)
_PG_AT = (
    "SELECT size, witness, key_id, timestamp, line, received_at FROM cosignatures"
    " WHERE size = %s ORDER BY witness, key_id"
)
_PG_LATEST = "SELECT max(size) FROM cosignatures WHERE witness = %s AND key_id = %s"


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """A witness's cosignature of the checkpoint of ``size``: its note line and time."""

    size: int
    witness: str
    key_id: str
    timestamp: int
    line: str
    received_at: str


def _row(row: Any) -> StoredCosignature:
    return StoredCosignature(int(row[0]), row[1], row[2], int(row[3]), row[4], row[5])


class CosignatureStore(ABC):
    """Keep and read witness cosignatures (mixed into EventStore)."""

    @abstractmethod
    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        """Keep a cosignature (a newer one of the same size and key replaces it)."""

    @abstractmethod
    def cosignatures_at(self, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by witness name."""

    @abstractmethod
    def witnessed_size(self, witness: str, key_id: str) -> int:
        """The largest size this witness key cosigned (0 if none)."""


class SQLiteCosignatures(CosignatureStore):
    """Cosignatures in the SQLite file."""

    @abstractmethod
    def _guard(self) -> AbstractContextManager[sqlite3.Connection]:
        """The thread's connection, with errors mapped to StoreUnavailable."""

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        c = cosignature
        with self._guard() as conn:
            conn.execute(
                _UPSERT,
                (c.size, c.witness, c.key_id, c.timestamp, c.line, c.received_at),
            )

    def cosignatures_at(self, size: int) -> list[StoredCosignature]:
        with self._guard() as conn:
            return [_row(r) for r in conn.execute(_AT, (size,))]

    def witnessed_size(self, witness: str, key_id: str) -> int:
        with self._guard() as conn:
            row = conn.execute(_LATEST, (witness, key_id)).fetchone()
        return int(row[0] or 0)


class PostgresCosignatures(CosignatureStore):
    """Cosignatures in PostgreSQL."""

    @abstractmethod
    def _connection(self) -> AbstractContextManager[psycopg.Connection[tuple[Any, ...]]]:
        """A pooled connection, with errors mapped to StoreUnavailable."""

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        c = cosignature
        with self._connection() as conn:
            conn.execute(
                _PG_UPSERT,
                (c.size, c.witness, c.key_id, c.timestamp, c.line, c.received_at),
            )

    def cosignatures_at(self, size: int) -> list[StoredCosignature]:
        with self._connection() as conn:
            return [_row(r) for r in conn.execute(_PG_AT, (size,))]

    def witnessed_size(self, witness: str, key_id: str) -> int:
        with self._connection() as conn:
            row = conn.execute(_PG_LATEST, (witness, key_id)).fetchone()
        return int(row[0] or 0) if row is not None else 0
