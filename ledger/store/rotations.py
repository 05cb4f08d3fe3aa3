"""Signing-key rotations, kept beside the checkpoints they concern (append-only).

A rotation is recorded by ``claimledger rotate-key``: the log's old and new verifier
keys, the tree size at which the new key takes over, and a signed note (see
``ledger.identity``) in which the old key names its successor and the new key signs
the same text, so an auditor who pinned either key can follow the change. Rows are
never updated or deleted; ``seq`` orders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .sql import Database, styled

#: the table (both backends; ``{int}`` a 64-bit integer, ``{key}`` text compared
#: bytewise), formatted by each backend's schema
TABLE = """
CREATE TABLE key_rotations (
    seq {int} PRIMARY KEY,
    size {int} NOT NULL CHECK (size >= 0),
    old_key {key} NOT NULL,
    new_key {key} NOT NULL UNIQUE,
    note TEXT NOT NULL,
    rotated_at TEXT NOT NULL
);
"""

_COLUMNS = "SELECT seq, size, old_key, new_key, note, rotated_at FROM key_rotations"
_ALL = _COLUMNS + " ORDER BY seq"
_LAST = _COLUMNS + " ORDER BY seq DESC LIMIT 1"
#: the next rotation follows the last one (seq = last + 1): two rotating at once collide
_INSERT = styled(
    "INSERT INTO key_rotations (seq, size, old_key, new_key, note, rotated_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """One recorded rotation: from ``old_key`` to ``new_key`` at tree ``size``."""

    seq: int
    size: int
    old_key: str
    new_key: str
    note: str
    rotated_at: str

    def to_json(self) -> dict[str, Any]:
        """What ``GET /v1/log/key`` lists."""
        return {
            "size": self.size,
            "old_key": self.old_key,
            "new_key": self.new_key,
            "note": self.note,
            "rotated_at": self.rotated_at,
        }


def _row(row: Any) -> KeyRotation:
    return KeyRotation(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5])


class RotationConflict(Exception):
    """Another rotation was recorded first (the same ``seq``), or the new key was used."""


class RotationRecorder(Protocol):
    """Keep and read key rotations."""

    def key_rotations(self) -> list[KeyRotation]:
        """Every recorded rotation, oldest first."""

    def add_key_rotation(self, rotation: KeyRotation) -> None:
        """Record a rotation; ``RotationConflict`` if its ``seq`` or new key is taken."""


class SQLRotations:
    """Rotations in the ``key_rotations`` table."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def key_rotations(self) -> list[KeyRotation]:
        """Every recorded rotation, oldest first."""
        with self._db.connection() as conn:
            return [_row(r) for r in conn.execute(_ALL)]

    def add_key_rotation(self, rotation: KeyRotation) -> None:
        """Record a rotation; ``RotationConflict`` if its ``seq`` or new key is taken."""
        r = rotation
        try:
            with self._db.connection() as conn:
                conn.execute(_INSERT[self._db.style],
                             (r.seq, r.size, r.old_key, r.new_key, r.note, r.rotated_at))
        except self._db.conflict as exc:
            raise RotationConflict(str(exc)) from None
