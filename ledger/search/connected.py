"""What both SQL backends of the search index do alike: one connection per process behind
a lock, and the generations' bookkeeping (same tables, same statements in either
placeholder style, ``ledger.store.sql.styled``)."""

from __future__ import annotations

import os
import threading
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ledger.store.sql import styled

from .base import Document, Generation, SearchIndex

_GENERATIONS = styled(
    "SELECT generation, partitions, state FROM search_generations ORDER BY generation")
_CHECKPOINTS = styled(
    "SELECT position FROM search_checkpoints WHERE generation = ? ORDER BY partition")
_MARKER = styled("SELECT marker FROM search_generations WHERE generation = ?")
_RETIRE = styled("UPDATE search_generations SET state = 'old' WHERE state = 'live'")
_GO_LIVE = styled("UPDATE search_generations SET state = 'live' WHERE generation = ?")
_MOVE = styled("UPDATE search_checkpoints SET position = ? WHERE generation = ? AND partition = ?")


class ConnectedIndex(SearchIndex):
    """A search index over one lazily opened connection (reopened in a forked child)."""

    #: which form of a ``styled`` statement the driver takes (``QMARK`` or ``FORMAT``)
    style: int

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._conn: Any = None
        self._pid = 0

    @abstractmethod
    def _connection(self) -> Any:
        """This process's connection, opened (and the schema set up) on first use."""

    @abstractmethod
    @contextmanager
    def _write(self) -> Iterator[Any]:
        """The connection in a write transaction, committed at the end."""

    @abstractmethod
    def _claim_batch(self, conn: Any, generation: int, partition: int
                     ) -> tuple[int, int] | None:
        """In a write transaction: the partition's checkpoint and the generation's
        marker, locked until it ends; None when the generation is gone."""

    @abstractmethod
    def _write_docs(self, conn: Any, generation: int,
                    docs: Mapping[str, Document | None]) -> None:
        """In a write transaction: replace (None: delete) claims' rows; counts follow."""

    def apply(
        self, generation: int, partition: int, expected: int, end: int, marker: int,
        docs: Mapping[str, Document | None],
    ) -> bool:
        """One batch in one transaction, if the checkpoint and marker are as expected."""
        with self._write() as conn:
            if self._claim_batch(conn, generation, partition) != (expected, marker):
                return False
            self._write_docs(conn, generation, docs)
            conn.execute(_MOVE[self.style], (end, generation, partition))
        return True

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock:
            yield self._connection()

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def generations(self) -> list[Generation]:
        """Every generation, oldest first."""
        with self._read() as conn:
            rows = conn.execute(_GENERATIONS[self.style]).fetchall()
        return [Generation(int(g), int(p), str(s)) for g, p, s in rows]

    def _drop_building(self) -> None:
        """Drop a previous unfinished generation (before a new one is created)."""
        for old in self.generations():
            if old.state == "building":
                self.drop(old.generation)

    def switch(self, generation: int) -> None:
        """Make ``generation`` live; the live one becomes old."""
        with self._write() as conn:
            conn.execute(_RETIRE[self.style])
            conn.execute(_GO_LIVE[self.style], (generation,))

    def checkpoints(self, generation: int) -> list[int | None]:
        """Per partition; empty when the generation does not exist."""
        with self._read() as conn:
            rows = conn.execute(_CHECKPOINTS[self.style], (generation,)).fetchall()
        return [int(r[0]) for r in rows]

    def marker(self, generation: int) -> int:
        """The redaction marker of a generation (0 when it does not exist)."""
        with self._read() as conn:
            row = conn.execute(_MARKER[self.style], (generation,)).fetchone()
        return int(row[0]) if row else 0
