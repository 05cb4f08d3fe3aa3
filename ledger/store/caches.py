"""What appends remember between them: the claim heads and the tree's right edge this
process wrote last, each trusted only at the log position it was exact at."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from .. import merkle

#: most events other writers may have appended for an append to roll its caches forward
ROLL_FORWARD_LIMIT = 64


class Leaf(NamedTuple):
    """What the append caches need of an event another writer appended."""

    position: int
    claim_id: str
    version: int
    leaf_hash: str


class HeadCache:
    """Claim heads this process wrote, trusted only while the log's head has not moved.

    Appends hold the ledger's lock, so if the head read inside a transaction equals
    the position this cache was last brought to, no other writer has committed since
    and the cached ``(version, leaf_hash)`` pairs are exact; otherwise they are ignored.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._position = -1
        self._heads: dict[str, tuple[int, str | None]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def lookup(self, position: int, claim_ids: Iterable[str]) -> dict[str, Any]:
        """Known heads at ``position``; None for each claim not known."""
        with self._lock:
            known = self._heads if self._position == position else {}
            return {claim_id: known.get(claim_id) for claim_id in claim_ids}

    def get(self, position: int, claim_id: str) -> tuple[int, str | None] | None:
        """One claim's head at ``position``, if known here."""
        with self._lock:
            return self._heads.get(claim_id) if self._position == position else None

    @property
    def position(self) -> int:
        """The log position the cached heads are exact at (-1: none)."""
        return self._position

    def catch_up(self, later: Sequence[Leaf]) -> bool:
        """Apply the events other writers appended since; False (nothing done) on a gap."""
        with self._lock:
            start = self._position + 1
            if not later or any(leaf.position != start + i for i, leaf in enumerate(later)):
                return False
            for leaf in later:
                self._heads[leaf.claim_id] = (leaf.version, leaf.leaf_hash)
            self._position = later[-1].position
            return True

    def remember(
        self, before: int, after: int, heads: Mapping[str, tuple[int, str | None]]
    ) -> None:
        """Record the heads a transaction that moved the log from ``before`` to ``after`` left."""
        with self._lock:
            if self._position != before or len(self._heads) > self._limit:
                self._heads = {}
            self._heads.update(heads)
            self._position = after

    def remember_one(self, before: int, claim_id: str, head: tuple[int, str]) -> None:
        """``remember`` for a one-event append at ``before + 1``."""
        with self._lock:
            if self._position != before or len(self._heads) > self._limit:
                self._heads = {}
            self._heads[claim_id] = head
            self._position = before + 1


class FrontierCache:
    """The right edge of the tree this process last wrote, valid at that size only.

    Appends hold the ledger's lock, so when the size read in the transaction equals the
    size remembered here no other writer has committed since and the hashes are exact.
    It keeps the tree itself, so an append copies it rather than resuming it from hashes.
    """

    def __init__(self) -> None:
        """Start empty (the first append reads the edge from the store)."""
        self._tree: merkle.CompactTree | None = None
        self._lock = threading.Lock()

    def lookup(self, size: int) -> tuple[bytes, ...] | None:
        """The perfect subtrees' hashes of the tree of ``size`` leaves, if known here."""
        with self._lock:
            tree = self._tree
            return tuple(tree.edge()) if tree is not None and tree.size == size else None

    def tree(self, size: int) -> merkle.CompactTree | None:
        """A copy of the tree of ``size`` leaves to append to, if known here."""
        with self._lock:
            tree = self._tree
            return tree.copy() if tree is not None and tree.size == size else None

    def remember(self, size: int, edge: Sequence[bytes]) -> None:
        """Record the edge of the tree of ``size`` leaves (a negative size forgets it)."""
        self.keep(merkle.CompactTree.resume(size, edge) if size >= 0 else None)

    def keep(self, tree: merkle.CompactTree | None) -> None:
        """Record the tree an append made (the cache owns it from then on; None forgets)."""
        with self._lock:
            self._tree = tree

    def catch_up(self, size: int, leaves: Sequence[bytes]) -> None:
        """Extend the edge known at ``size`` by leaves other writers appended (else nothing)."""
        with self._lock:
            tree = self._tree
            if tree is None or tree.size != size:
                return
            for leaf in leaves:
                tree.append(leaf)


class LeafReader(Protocol):
    """What rolling the caches forward reads: the events after a position."""

    def leaves_since(self, position: int, limit: int) -> list[Leaf]:
        """Up to ``limit`` events after ``position``, in order."""


def roll_forward(heads: HeadCache, frontier: FrontierCache, tx: LeafReader, head: int) -> None:
    """Bring both caches to ``head`` if other writers added a few events since.

    With several processes appending in turn, each append would otherwise find both
    caches stale and look up the claim's head and the tree's right edge again.
    """
    known = heads.position
    if not 0 <= known < head or head - known > ROLL_FORWARD_LIMIT:
        return
    later = tx.leaves_since(known, head - known)
    if heads.catch_up(later):
        frontier.catch_up(known, [bytes.fromhex(leaf.leaf_hash) for leaf in later])
