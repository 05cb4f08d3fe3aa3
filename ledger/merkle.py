"""RFC 9162 Merkle tree math over leaf hashes, reading stored perfect-subtree nodes.

The log's tree is the RFC 9162 (section 2.1) Merkle tree over all leaf hashes in
position order; leaf index = position - 1. The store keeps one row per *perfect*
subtree once it is complete: node ``(level, index)`` is the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is the leaf hashes themselves.

Every tree hash this module needs is either such a stored node or the hash of a
right-edge subtree, which is the right fold of the O(log n) perfect subtrees that
tile it. So a root of any size, an inclusion proof and a consistency proof each
cost O(log n) ``get_node`` calls and never a scan of the leaves.

The verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step. This
module has no I/O; the caller supplies ``get_node``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from .errors import LedgerError
from .hashing import node_hash

_sha256 = hashlib.sha256

#: Reads a stored perfect-subtree hash: ``get_node(level, index) -> 32 bytes``.
GetNode = Callable[[int, int], bytes]

#: A node row to store: ``(level, index, hash)``.
Node = tuple[int, int, bytes]

#: Size in bytes of every hash in the tree (SHA-256).
HASH_SIZE = 32

#: The root of the empty tree: ``SHA-256("")`` (RFC 9162 section 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(LedgerError):
    """A Merkle proof or its inputs are invalid; the message says which step failed."""


# --------------------------------------------------------------------------- helpers


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _node(get_node: GetNode, level: int, index: int) -> bytes:
    value = get_node(level, index)
    if len(value) != HASH_SIZE:
        raise ProofError(f"stored node ({level}, {index}) is not a {HASH_SIZE}-byte hash")
    return bytes(value)


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` perfect subtrees tiling leaves ``[start, end)``, left to right."""
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    out: list[tuple[int, int]] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append((level, start >> level))
        start += 1 << level
    return out


def subtree_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """RFC 9162 MTH of leaves ``[start, end)`` from O(log n) stored perfect subtrees.

    ``start`` must be a multiple of the largest power of two not above ``end - start``,
    which holds for every subtree of the RFC tree (the ranges proofs ask for).
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or bad leaf range [{start}, {end})")
    top = 1 << ((end - start).bit_length() - 1)
    if start % top:
        raise ValueError(f"[{start}, {end}) is not a subtree of an RFC 9162 tree")
    tiles = perfect_subtrees(start, end)
    acc = _node(get_node, *tiles[-1])
    for level, index in reversed(tiles[:-1]):
        acc = node_hash(_node(get_node, level, index), acc)
    return acc


def root_at(size: int, get_node: GetNode) -> bytes:
    """The tree root at ``size`` leaves, from O(log size) stored nodes."""
    if size < 0:
        raise ValueError("tree size must not be negative")
    return EMPTY_ROOT if size == 0 else subtree_hash(0, size, get_node)


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 9162 root of a list of leaf hashes, in one pass with O(log n) memory."""
    tree = CompactTree()
    for leaf in leaf_hashes:
        tree.append(leaf)
    return tree.root()


# --------------------------------------------------------------------------- building


class CompactTree:
    """A streaming tree that keeps only the perfect subtrees on its right edge.

    ``append`` returns the perfect-subtree nodes (level >= 1) it completes, so an
    audit can compare them with the stored ones while reading the leaves once.
    """

    def __init__(self) -> None:
        """Start an empty tree."""
        self._size = 0
        self._edge: list[tuple[int, bytes]] = []  # (level, hash), levels decreasing

    @classmethod
    def resume(cls, size: int, edge: Sequence[bytes]) -> CompactTree:
        """A tree of ``size`` leaves from its perfect subtrees' hashes (``perfect_subtrees``)."""
        if size < 0:
            raise ValueError(f"bad leaf range [0, {size})")
        # the perfect subtrees of [0, size) are its set bits, highest first (as
        # perfect_subtrees(0, size) tiles them; every append resumes the tree)
        levels = [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
        if len(levels) != len(edge):
            raise ValueError(f"a tree of size {size} has {len(levels)} perfect subtrees")
        tree = cls()
        tree._size = size
        tree._edge = [(level, bytes(value)) for level, value in zip(levels, edge, strict=True)]
        return tree

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def copy(self) -> CompactTree:
        """The same tree, appended to independently of this one (O(log n))."""
        tree = CompactTree.__new__(CompactTree)
        tree._size = self._size
        tree._edge = list(self._edge)
        return tree

    def edge(self) -> list[bytes]:
        """The hashes of the perfect subtrees tiling the tree, left to right."""
        return [value for _, value in self._edge]

    def append(self, leaf_hash: bytes) -> list[Node]:
        """Add one leaf; return the ``(level, index, hash)`` nodes it completes."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        edge, index = self._edge, self._size
        self._size = index + 1
        completed: list[Node] = []
        level, acc = 0, bytes(leaf_hash)
        while edge and edge[-1][0] == level:  # node_hash inlined: once per appended event
            acc = _sha256(b"\x01" + edge.pop()[1] + acc).digest()
            level += 1
            index >>= 1
            completed.append((level, index, acc))
        edge.append((level, acc))
        return completed

    def push(self, leaf_hash: bytes) -> None:
        """``append`` without listing the nodes completed (for replays, which only need
        the root): the leaf must be a 32-byte ``bytes``."""
        edge = self._edge
        level, acc = 0, leaf_hash
        while edge and edge[-1][0] == level:
            acc = _sha256(b"\x01" + edge.pop()[1] + acc).digest()
            level += 1
        edge.append((level, acc))
        self._size += 1

    def root(self) -> bytes:
        """The root of the leaves appended so far."""
        if not self._edge:
            return EMPTY_ROOT
        acc = self._edge[-1][1]
        for _, left in reversed(self._edge[:-1]):
            acc = node_hash(left, acc)
        return acc


def nodes_completed_by_append(
    size_before: int, new_leaf_hashes: Sequence[bytes], get_node: GetNode
) -> list[Node]:
    """The perfect-subtree nodes (level >= 1) that appending these leaves completes.

    Returns ``(level, index, hash)`` in completion order, about one per leaf. Only
    left siblings that predate the batch are read (at most one per level).
    """
    if size_before < 0:
        raise ValueError("tree size must not be negative")
    fresh: dict[tuple[int, int], bytes] = {}
    out: list[Node] = []
    for offset, leaf in enumerate(new_leaf_hashes):
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash must be {HASH_SIZE} bytes")
        level, index, acc = 0, size_before + offset, bytes(leaf)
        fresh[(0, index)] = acc
        while index & 1:
            left = fresh.get((level, index - 1))
            if left is None:
                left = _node(get_node, level, index - 1)
            acc = node_hash(left, acc)
            level += 1
            index >>= 1
            fresh[(level, index)] = acc
            out.append((level, index, acc))
    return out


# --------------------------------------------------------------------------- proofs


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]), leaf-side first, from O(log size) node reads."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            path.append(subtree_hash(mid, end, get_node))
            end = mid
        else:
            path.append(subtree_hash(start, mid, get_node))
            start = mid
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, get_node: GetNode) -> list[bytes]:
    """RFC 9162 PROOF(size1, D[size2]) for ``0 < size1 <= size2``, from O(log) reads."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    proof: list[bytes] = []
    start, end, whole = 0, size2, True
    while True:
        m = size1 - start
        if m == end - start:
            if not whole:
                proof.append(subtree_hash(start, end, get_node))
            break
        mid = start + _split(end - start)
        if m <= mid - start:
            proof.append(subtree_hash(mid, end, get_node))
            end = mid
        else:
            proof.append(subtree_hash(start, mid, get_node))
            start, whole = mid, False
    proof.reverse()
    return proof


# --------------------------------------------------------------------------- verifying


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof implies (RFC 9162 section 2.1.3.2 steps 1-4)."""
    if index < 0 or size < 0:
        raise ProofError("leaf index and tree size must not be negative")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    fn, sn, r = index, size - 1, bytes(leaf_hash)
    for p in proof:
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, too many for this tree")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, too few for this tree")
    return r


def check_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ``ProofError`` unless ``proof`` shows leaf ``index`` in the tree ``root``."""
    _check_hash(root, "root")
    if root_from_inclusion_proof(leaf_hash, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: whether the inclusion proof holds."""
    try:
        check_inclusion(leaf_hash, index, size, proof, root)
    except ProofError:
        return False
    return True


def check_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ``ProofError`` unless ``proof`` shows tree ``root1`` is a prefix of ``root2``.

    As RFC 9162 defines proofs only for ``0 < size1``, a proof from the empty tree is
    refused; ``size1 == size2`` holds only with an empty proof and equal roots.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError("tree sizes must not be negative")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is greater than size2 {size2}")
    if size1 == 0:
        raise ProofError("no consistency proof from the empty tree (size1 is 0)")
    if size1 == size2:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if root1 != root2:
            raise ProofError("sizes are equal but the roots differ")
        return
    # RFC 9162 section 2.1.4.2.
    if not proof:
        raise ProofError("consistency proof is empty")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    for i, c in enumerate(proof):
        _check_hash(c, f"proof[{i}]")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, too many for these sizes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, too few for these sizes")
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1")
    if sr != root2:
        raise ProofError("consistency proof does not lead to root2")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: whether the consistency proof holds."""
    try:
        check_consistency(size1, size2, root1, root2, proof)
    except ProofError:
        return False
    return True
