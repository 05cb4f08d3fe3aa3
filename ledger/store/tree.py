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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .. import merkle
from ..errors import IntegrityError, LedgerError
from .sql import Connection, Database

Key = tuple[int, int]
T = TypeVar("T")

#: the checkpoints and redactions tables (migration 3 of both backends; ``{int}`` a 64-bit
#: integer, ``{key}`` text compared bytewise, ``{bytes}`` and ``{length}`` a byte string
#: and its length), formatted by each backend's schema
TABLES = """CREATE TABLE checkpoints (
    size {int} PRIMARY KEY,
    root {bytes} NOT NULL CHECK ({length}(root) = 32),
    note TEXT NOT NULL,
    issued_at {key} NOT NULL
);
CREATE TABLE redactions (
    position {int} PRIMARY KEY REFERENCES events (position),
    event_id {key} NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    redacted_at TEXT NOT NULL
);
"""

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


class EdgeCache(Protocol):
    """The tree's right edge remembered at one size (``caches.FrontierCache``)."""

    def tree(self, size: int) -> merkle.CompactTree | None:
        """A copy of the tree of ``size`` leaves to append to, if known."""


def append_nodes(
    tx: NodeTransaction, cache: EdgeCache | None, size_before: int, leaves: Sequence[bytes]
) -> tuple[list[merkle.Node], merkle.CompactTree]:
    """The node rows appending ``leaves`` writes (levels 1 and up) and the tree after them.

    Only the O(log n) perfect subtrees on the tree's right edge are read (none when this
    process wrote the last append), in one query.
    """
    tree = tree_at(tx, cache, size_before)
    if len(leaves) == 1:  # a one-event append
        return tree.append(leaves[0]), tree
    rows: list[merkle.Node] = []
    for leaf in leaves:
        rows.extend(tree.append(leaf))
    return rows, tree


def tree_at(tx: NodeTransaction, cache: EdgeCache | None, size: int) -> merkle.CompactTree:
    """The tree of the first ``size`` leaves to append to: the cache's copy, else resumed
    from its O(log n) perfect subtrees, read in one query."""
    tree = cache.tree(size) if cache is not None else None
    if tree is not None:
        return tree
    keys = merkle.perfect_subtrees(0, size)
    found = tx.get_nodes(keys) if keys else {}
    if len(found) != len(keys):
        raise IntegrityError(
            f"the tree nodes of the first {size} events are missing:"
            " run `claimledger init` to build them",
            size,
        )
    return merkle.CompactTree.resume(size, [found[key] for key in keys])


def _recording(compute: Callable[[merkle.GetNode], T]) -> set[Key]:
    """The node keys ``compute`` reads (it runs against 32 zero bytes per node)."""
    wanted: set[Key] = set()
    zero = bytes(merkle.HASH_SIZE)

    def record(level: int, index: int) -> bytes:
        wanted.add((level, index))
        return zero

    compute(record)
    return wanted


class NodeReader(Protocol):
    """A backend's reads of the tree: level 0 from the events, higher levels from nodes."""

    def by_keys(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The stored nodes among ``keys``, in one query."""

    def level(self, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of the stored nodes at ``level`` among indexes ``start`` to
        ``start + limit - 1``, in order (a missing node is absent)."""


#: a backend's query of the stored nodes among some keys, on a connection
NodeQuery = Callable[[Connection, Sequence[Key]], dict[Key, bytes]]
#: a backend's query of ``(index, hash)`` at one level from ``start``, at most ``limit``
LevelQuery = Callable[[Connection, int, int, int], list[tuple[int, bytes]]]


class SQLNodes:
    """A ``NodeReader`` running a backend's two node queries on its connections."""

    def __init__(self, db: Database, select: NodeQuery, level: LevelQuery) -> None:
        """Run ``select`` and ``level`` on connections of ``db``."""
        self._db = db
        self._select = select
        self._level = level

    def by_keys(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The stored nodes among ``keys``, in one query."""
        with self._db.connection() as conn:
            return self._select(conn, keys)

    def level(self, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of the stored nodes at ``level`` from ``start``, in order."""
        with self._db.connection() as conn:
            return self._level(conn, level, start, limit)


class Tree:
    """Roots, proofs and tile hashes of the log's tree, read through a ``NodeReader``."""

    def __init__(self, nodes: NodeReader, head: Callable[[], int]) -> None:
        """Read nodes with ``nodes``; ``head`` tells a size beyond the log from a lost node."""
        self.nodes = nodes
        self._head = head

    def _fetch(self, wanted: Iterable[Key], size: int) -> dict[Key, bytes]:
        keys = sorted(set(wanted))
        nodes: dict[Key, bytes] = {}
        for start in range(0, len(keys), FETCH_CHUNK):
            nodes.update(self.nodes.by_keys(keys[start : start + FETCH_CHUNK]))
        if len(nodes) != len(keys):
            head = self._head()
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
