"""Witness cosignatures of the log's checkpoints, kept beside the checkpoints they sign.

One row per checkpoint size and witness key (name and key id): the cosignature's note
line and its timestamp; a later cosignature of the same size by the same key replaces
an older one. The largest size a witness cosigned is where the next request to it
starts (its ``old`` size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .sql import Database, styled

#: the table (both backends; ``{int}`` a 64-bit integer, ``{key}`` text compared
#: bytewise), formatted by each backend's schema
TABLE = """
CREATE TABLE cosignatures (
    size {int} NOT NULL CHECK (size >= 0),
    witness {key} NOT NULL,
    key_id {key} NOT NULL,
    timestamp {int} NOT NULL,
    line TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (size, witness, key_id)
);
CREATE INDEX cosignatures_witness ON cosignatures (witness, key_id, size);
"""

_UPSERT = styled(
    "INSERT INTO cosignatures (size, witness, key_id, timestamp, line, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (size, witness, key_id) DO UPDATE SET"
    " timestamp = excluded.timestamp, line = excluded.line, received_at = excluded.received_at"
    " WHERE excluded.timestamp > cosignatures.timestamp"
)
_AT = styled(
    "SELECT size, witness, key_id, timestamp, line, received_at FROM cosignatures"
    " WHERE size = ? ORDER BY witness, key_id"
)
_LATEST = styled("SELECT max(size) FROM cosignatures WHERE witness = ? AND key_id = ?")


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


class CosignatureRecorder(Protocol):
    """Keep and read witness cosignatures."""

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        """Keep a cosignature (a newer one of the same size and key replaces it)."""

    def cosignatures_at(self, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by witness name."""

    def witnessed_size(self, witness: str, key_id: str) -> int:
        """The largest size this witness key cosigned (0 if none)."""


class SQLCosignatures:
    """Cosignatures in the ``cosignatures`` table."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        """Keep a cosignature (a newer one of the same size and key replaces it)."""
        c = cosignature
        with self._db.connection() as conn:
            conn.execute(_UPSERT[self._db.style],
                         (c.size, c.witness, c.key_id, c.timestamp, c.line, c.received_at))

    def cosignatures_at(self, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by witness name."""
        with self._db.connection() as conn:
            return [_row(r) for r in conn.execute(_AT[self._db.style], (size,))]

    def witnessed_size(self, witness: str, key_id: str) -> int:
        """The largest size this witness key cosigned (0 if none)."""
        with self._db.connection() as conn:
            row = conn.execute(_LATEST[self._db.style], (witness, key_id)).fetchone()
        return int(row[0] or 0) if row is not None else 0
