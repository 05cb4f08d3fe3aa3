"""Signed checkpoints of the log's tree in the store (migration 3): one recorder for both
backends; the checkpoint stored first for a size wins."""

from __future__ import annotations

from typing import Any, Protocol

from .sql import Database, styled
from .tree import StoredCheckpoint


class CheckpointRecorder(Protocol):
    """Keep and read the log's signed checkpoints."""

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
        """Store a checkpoint; the one already stored for that size wins."""

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, if any was issued."""

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint issued for a tree of ``size`` leaves, if any."""

    def checkpoints_after(self, size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` checkpoints of trees larger than ``size`` leaves, smallest first."""


_COLUMNS = "SELECT size, root, note, issued_at FROM checkpoints"
_ADD = styled(
    "INSERT INTO checkpoints (size, root, note, issued_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (size) DO NOTHING"
)
_AT = styled(_COLUMNS + " WHERE size = ?")
_LATEST = _COLUMNS + " ORDER BY size DESC LIMIT 1"
_AFTER = styled(_COLUMNS + " WHERE size > ? ORDER BY size LIMIT ?")


def _checkpoint(row: Any) -> StoredCheckpoint | None:
    if row is None:
        return None
    size, root, note, issued_at = row
    return StoredCheckpoint(int(size), bytes(root), str(note), str(issued_at))


class SQLCheckpoints:
    """Checkpoints in the ``checkpoints`` table."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
        """Store a checkpoint; the one already stored for that size wins."""
        c, style = checkpoint, self._db.style
        with self._db.connection() as conn:
            conn.execute(_ADD[style], (c.size, c.root, c.note, c.issued_at))
            stored = _checkpoint(conn.execute(_AT[style], (c.size,)).fetchone())
        assert stored is not None
        return stored

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, if any."""
        with self._db.connection() as conn:
            return _checkpoint(conn.execute(_LATEST).fetchone())

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint issued for ``size`` leaves, if any."""
        with self._db.connection() as conn:
            return _checkpoint(conn.execute(_AT[self._db.style], (size,)).fetchone())

    def checkpoints_after(self, size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` checkpoints of trees larger than ``size``, smallest first."""
        with self._db.connection() as conn:
            rows = conn.execute(_AFTER[self._db.style], (size, limit)).fetchall()
        return [c for row in rows if (c := _checkpoint(row)) is not None]
