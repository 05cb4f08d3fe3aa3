"""The log's Merkle tree in the store: node rows written on append, O(log n) proofs.

Level 0 of the tree is the leaf hashes the log already stores (``events.leaf_hash``,
index = position - 1); ``merkle_nodes`` holds every larger perfect subtree once it
completes, about one row per event, written in the append transaction. Roots and
proofs read O(log n) of those rows and leaves, all in one query: the ``ledger.merkle``
function runs once against a recording ``get_node`` to learn which nodes it needs,
they are fetched in one SELECT, and it runs again against that dict. (Ledgers made
before 0.1.0 final also hold level-0 rows; they are never read.)
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .. import merkle
from ..errors import EventNotFound, IntegrityError, LedgerError, ValidationFailed
from ..timeutil import format_time, utcnow

if TYPE_CHECKING:
    from ..envelope import RecordedEvent

Key = tuple[int, int]
T = TypeVar("T")

#: node keys fetched per query (SQLite allows 32766 bound parameters)
FETCH_CHUNK = 4000


class TreeSizeError(LedgerError):
    """A tree size or leaf index the log cannot answer for; ``beyond_head`` if past its head."""

    def __init__(self, message: str, *, beyond_head: bool = False) -> None:
        super().__init__(message)
        self.beyond_head = beyond_head


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: tree size, root, the signed note and when."""

    size: int
    root: bytes
    note: str
    issued_at: str


@dataclass(frozen=True, slots=True)
class Redaction:
    """Who removed an event's payload, when and why (the leaf keeps its hash)."""

    position: int
    event_id: str
    actor: str
    reason: str
    redacted_at: str

    def to_json(self) -> dict[str, str]:
        """What history shows in place of the payload."""
        return {"actor": self.actor, "reason": self.reason, "redacted_at": self.redacted_at}


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""

    index: int
    size: int
    leaf_hash: bytes
    root: bytes
    proof: list[bytes]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 consistency proof from the tree of ``first`` leaves to ``second``."""

    first: int
    second: int
    root_first: bytes
    root_second: bytes
    proof: list[bytes]


class NodeTransaction(Protocol):
    """What appending nodes needs from a write transaction."""

    def get_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """Stored nodes among ``keys``."""

    def insert_nodes(self, nodes: Sequence[merkle.Node]) -> None:
        """Insert ``(level, index, hash)`` rows."""


class TreeTransaction(NodeTransaction, Protocol):
    """What building the tree and redacting need from a write transaction."""

    def head(self) -> tuple[int, str | None]:
        """The last position and its ``recorded_at`` (0, None when empty)."""

    def read_range(self, first: int, last: int) -> list[RecordedEvent]:
        """Events with positions in ``[first, last]``."""

    def insert_redactions(self, redactions: Sequence[Redaction]) -> None:
        """Record redactions (before their payloads are deleted)."""

    def delete_payload(self, position: int) -> None:
        """Delete a payload whose redaction is recorded."""


class FrontierCache:
    """The right edge of the tree this process last wrote, valid at that size only.

    Appends hold the ledger's lock, so when the size read in the transaction equals the
    size remembered here no other writer has committed since and the hashes are exact.
    """

    def __init__(self) -> None:
        """Start empty (the first append reads the edge from the store)."""
        self._size = -1
        self._edge: tuple[bytes, ...] = ()
        self._lock = threading.Lock()

    def lookup(self, size: int) -> tuple[bytes, ...] | None:
        """The perfect subtrees' hashes of the tree of ``size`` leaves, if known here."""
        with self._lock:
            return self._edge if size == self._size else None

    def remember(self, size: int, edge: Sequence[bytes]) -> None:
        """Record the edge of the tree of ``size`` leaves."""
        with self._lock:
            self._size, self._edge = size, tuple(edge)

    def catch_up(self, size: int, leaves: Sequence[bytes]) -> None:
        """Extend the edge known at ``size`` by leaves other writers appended (else nothing)."""
        with self._lock:
            if size != self._size:
                return
            tree = merkle.CompactTree.resume(size, self._edge)
            for leaf in leaves:
                tree.append(leaf)
            self._size, self._edge = tree.size, tuple(tree.edge())


def append_nodes(
    tx: NodeTransaction, cache: FrontierCache | None, size_before: int, leaves: Sequence[bytes]
) -> tuple[list[merkle.Node], tuple[bytes, ...]]:
    """The node rows appending ``leaves`` writes (levels 1 and up) and the new right edge.

    Only the O(log n) perfect subtrees on the tree's right edge are read (none when this
    process wrote the last append), in one query.
    """
    edge = cache.lookup(size_before) if cache is not None else None
    if edge is None:
        keys = merkle.perfect_subtrees(0, size_before)
        found = tx.get_nodes(keys) if keys else {}
        if len(found) != len(keys):
            raise IntegrityError(
                f"the tree nodes of the first {size_before} events are missing:"
                " run `claimledger init` to build them",
                size_before,
            )
        edge = tuple(found[key] for key in keys)
    tree = merkle.CompactTree.resume(size_before, edge)
    rows: list[merkle.Node] = []
    for leaf in leaves:
        rows.extend(tree.append(leaf))
    return rows, tuple(tree.edge())


def _recording(compute: Callable[[merkle.GetNode], T]) -> set[Key]:
    """The node keys ``compute`` reads (it runs against 32 zero bytes per node)."""
    wanted: set[Key] = set()
    zero = bytes(merkle.HASH_SIZE)

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return zero

    compute(record)
    return wanted


class TreeStore(ABC):
    """Tree reads, checkpoints and redaction, shared by every backend (mixed into EventStore)."""

    # --- what the event store provides -----------------------------------------------
    @abstractmethod
    def head(self) -> int:
        """The last committed position (0 when empty)."""

    @abstractmethod
    def get_event(self, event_id: str) -> RecordedEvent | None:
        """One event by id."""

    @abstractmethod
    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with ``position > after`` in position order, at most ``limit``."""

    @abstractmethod
    def write_transaction(self) -> AbstractContextManager[TreeTransaction]:
        """Begin a write transaction under the ledger's append lock."""

    # --- backend primitives ---------------------------------------------------------
    @abstractmethod
    def _read_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The stored nodes among ``keys``, in one query."""

    @abstractmethod
    def read_nodes(self, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of the stored nodes at ``level`` among indexes ``start`` to
        ``start + limit - 1``, in order (a missing node is absent)."""

    # --- tree reads -------------------------------------------------------------------
    @property
    def _frontier(self) -> FrontierCache:
        cache: FrontierCache | None = self.__dict__.get("_frontier_cache")
        if cache is None:
            cache = self.__dict__["_frontier_cache"] = FrontierCache()
        return cache

    def _fetch(self, wanted: Iterable[Key], size: int) -> dict[Key, bytes]:
        keys = sorted(set(wanted))
        nodes: dict[Key, bytes] = {}
        for start in range(0, len(keys), FETCH_CHUNK):
            nodes.update(self._read_nodes(keys[start : start + FETCH_CHUNK]))
        if len(nodes) != len(keys):
            head = self.head()
            if size > head:
                raise TreeSizeError(
                    f"the log has {head} events, fewer than the tree size {size}", beyond_head=True
                )
            level, index = min(set(keys) - nodes.keys())
            raise IntegrityError(
                f"tree node ({level}, {index}) is missing: run `claimledger init` to build it",
                (index << level) + 1,
            )
        return nodes

    def _compute(self, compute: Callable[[merkle.GetNode], T], size: int) -> T:
        nodes = self._fetch(_recording(compute), size)
        return compute(lambda level, index: nodes[(level, index)])

    def root(self, size: int) -> bytes:
        """The tree root at ``size`` leaves (one query)."""
        if size < 0:
            raise TreeSizeError("the tree size must not be negative")
        return self._compute(lambda get: merkle.root_at(size, get), size)

    def inclusion_proof(self, index: int, size: int) -> InclusionProof:
        """Leaf ``index`` (position - 1) in the tree of ``size`` leaves, with its root."""
        if not 0 <= index < size:
            raise TreeSizeError(f"leaf index {index} is not in a tree of size {size}")

        def compute(get: merkle.GetNode) -> InclusionProof:
            proof = merkle.inclusion_proof(index, size, get)
            return InclusionProof(index, size, get(0, index), merkle.root_at(size, get), proof)

        return self._compute(compute, size)

    def inclusion_proofs(
        self, indexes: Sequence[int], size: int
    ) -> tuple[bytes, list[list[bytes]]]:
        """The root at ``size`` and a proof for each leaf index, fetched together."""
        for index in indexes:
            if not 0 <= index < size:
                raise TreeSizeError(f"leaf index {index} is not in a tree of size {size}")

        def compute(get: merkle.GetNode) -> tuple[bytes, list[list[bytes]]]:
            proofs = [merkle.inclusion_proof(i, size, get) for i in indexes]
            return merkle.root_at(size, get), proofs

        return self._compute(compute, size)

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """That the tree of ``first`` leaves is a prefix of the one of ``second`` leaves."""
        if not 0 < first <= second:
            raise TreeSizeError(f"no consistency proof from size {first} to size {second}")

        def compute(get: merkle.GetNode) -> ConsistencyProof:
            proof = merkle.consistency_proof(first, second, get)
            return ConsistencyProof(
                first, second, merkle.root_at(first, get), merkle.root_at(second, get), proof
            )

        return self._compute(compute, second)

    def tree_hashes(self, level: int, start: int, count: int) -> list[bytes]:
        """The hashes of tree level ``level``, indexes ``start`` to ``start + count - 1``
        (a tile's hashes), in one query; ``TreeSizeError`` (beyond head) if not all exist."""
        if level < 0 or start < 0 or count < 1:
            raise TreeSizeError(f"no hashes at level {level} from {start} ({count})")
        keys = [(level, index) for index in range(start, start + count)]
        nodes = self._fetch(keys, (start + count) << level)
        return [nodes[key] for key in keys]

    # --- building ---------------------------------------------------------------------
    def backfill_nodes(self, progress: Callable[[int], Any] | None = None) -> int:
        """Build the nodes of a log that predates them; returns how many events it covered.

        Runs in one write transaction (appends wait); does nothing when they exist.
        """
        with self.write_transaction() as tx:
            head = tx.head()[0]
            edge = [key for key in merkle.perfect_subtrees(0, head) if key[0] > 0]
            if not edge or len(tx.get_nodes(edge)) == len(edge):
                return 0
            if tx.get_nodes([(1, 0)]):
                raise IntegrityError("the tree nodes are partly missing", head)
            size, batch = 0, 5000
            tree = merkle.CompactTree()
            while size < head:
                events = tx.read_range(size + 1, min(head, size + batch))
                if not events or events[0].position != size + 1:
                    raise IntegrityError(f"position {size + 1} is missing", size + 1)
                rows: list[merkle.Node] = []
                for event in events:
                    rows.extend(tree.append(bytes.fromhex(event.leaf_hash)))
                tx.insert_nodes(rows)
                size += len(events)
                if progress is not None:
                    progress(len(events))
        self._frontier.remember(-1, ())
        return head

    # --- redaction --------------------------------------------------------------------
    def redact(
        self, event_id: str, *, actor: str, reason: str, at: str | None = None
    ) -> RecordedEvent:
        """Remove an event's payload for good, recording who, when and why.

        The leaf keeps committing to the payload's hash, so every proof still holds.
        """
        if not reason.strip():
            raise ValidationFailed("a redaction needs a reason", {"reason": ["Required."]})
        found = self.get_event(event_id)
        if found is None:
            raise EventNotFound(event_id)
        record = Redaction(found.position, found.id, actor, reason, at or format_time(utcnow()))
        with self.write_transaction() as tx:
            [current] = tx.read_range(found.position, found.position)
            if current.redaction is not None or current.data is None:
                raise ValidationFailed(
                    f"event {event_id} is already redacted", {"event_id": ["Already redacted."]}
                )
            tx.insert_redactions([record])
            tx.delete_payload(found.position)
        [event] = self.read_all(found.position - 1, 1)
        return event
