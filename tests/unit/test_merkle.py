"""RFC 9162 tree math: the reference vectors, and properties of store-built proofs."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.hashing import leaf_hash, node_hash

_HERE = Path(__file__).resolve().parent
#: The RFC 9162 reference vectors: $LEDGER_RFC9162_VECTORS, a copy vendored next to
#: this file, or the shared brief's directory beside the checkout.
VECTORS = next(
    (
        p
        for p in (
            Path(os.environ.get("LEDGER_RFC9162_VECTORS", "/nonexistent")),
            _HERE / "vectors" / "rfc9162",
            _HERE.parents[2] / "shared" / "vectors" / "rfc9162",
        )
        if p.is_dir()
    ),
    _HERE.parents[2] / "shared" / "vectors" / "rfc9162",
)


def _vector_files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in case["proof"] or []]


# --------------------------------------------------------------------------- vectors


def test_every_vector_directory_is_found() -> None:
    assert VECTORS.is_dir(), f"RFC 9162 vectors not found; set LEDGER_RFC9162_VECTORS ({VECTORS})"
    assert len(_vector_files("inclusion")) > 90
    assert len(_vector_files("consistency")) > 90


@pytest.mark.parametrize(
    "path", _vector_files("inclusion"), ids=lambda p: str(p.relative_to(VECTORS))
)
def test_inclusion_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    ok = merkle.verify_inclusion(
        _b64(case["leafHash"]), case["leafIdx"], case["treeSize"], _proof(case), _b64(case["root"])
    )
    assert ok is not case["wantErr"], case["desc"]


@pytest.mark.parametrize(
    "path", _vector_files("consistency"), ids=lambda p: str(p.relative_to(VECTORS))
)
def test_consistency_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    ok = merkle.verify_consistency(
        case["size1"], case["size2"], _b64(case["root1"]), _b64(case["root2"]), _proof(case)
    )
    assert ok is not case["wantErr"], case["desc"]


def test_happy_vectors_match_proofs_we_generate() -> None:
    """The vectors' leaves are RFC 6962's test leaves; our proofs must equal theirs."""
    data = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
            bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]  # fmt: skip
    leaves = [leaf_hash(d) for d in data]
    store = _Store()
    store.append(leaves)
    compared = 0
    for path in _vector_files("inclusion"):
        case = json.loads(path.read_text())
        if case["wantErr"] or not path.parent.name.isdigit():  # single-entry: other leaf
            continue
        assert merkle.root_at(case["treeSize"], store.get) == _b64(case["root"])
        got = merkle.inclusion_proof(case["leafIdx"], case["treeSize"], store.get)
        assert got == _proof(case), path
        compared += 1
    for path in _vector_files("consistency"):
        case = json.loads(path.read_text())
        if case["wantErr"] or not case["proof"]:
            continue
        got = merkle.consistency_proof(case["size1"], case["size2"], store.get)
        assert got == _proof(case), path
        compared += 1
    assert compared >= 9


# --------------------------------------------------------------------------- helpers


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, straight from its recursive definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 PATH(m, D[n]), recursively."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 9162 SUBPROOF(m, D[n], b), recursively."""
    n = len(leaves)
    if m == n:
        return [] if whole else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


class _Store:
    """Leaves and nodes as the event store keeps them; counts reads."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.reads = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        if level == 0:
            return self.leaves[index]
        return self.nodes[(level, index)]

    def append(self, batch: list[bytes]) -> list[merkle.Node]:
        completed = merkle.nodes_completed_by_append(len(self.leaves), batch, self.get)
        self.leaves.extend(batch)
        for level, index, value in completed:
            assert (level, index) not in self.nodes, "a node row is written twice"
            self.nodes[(level, index)] = value
        return completed


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"event %d" % i) for i in range(n)]


def _flipped(value: bytes) -> list[bytes]:
    """``value`` with each byte in turn changed."""
    return [value[:i] + bytes([value[i] ^ 0x01]) + value[i + 1 :] for i in range(len(value))]


def _log_bound(n: int) -> int:
    return 4 * max(1, math.ceil(math.log2(n + 1))) + 4


@st.composite
def _built_tree(draw: st.DrawFn) -> tuple[list[bytes], _Store]:
    n = draw(st.integers(min_value=1, max_value=160))
    batches = draw(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=n))
    leaves, store, done = _leaves(n), _Store(), 0
    for size in batches:
        if done >= n:
            break
        store.append(leaves[done : done + size])
        done += size
    store.append(leaves[done:])
    return leaves, store


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(_built_tree())
def test_stored_nodes_are_exactly_the_complete_perfect_subtrees(
    tree: tuple[list[bytes], _Store],
) -> None:
    leaves, store = tree
    n = len(leaves)
    expected = {(level, index) for level in range(1, n.bit_length()) for index in range(n >> level)}
    assert set(store.nodes) == expected
    for (level, index), value in store.nodes.items():
        assert value == _mth(leaves[index << level : (index + 1) << level])
    assert len(store.nodes) == n - bin(n).count("1")  # just under one per leaf


@settings(max_examples=150, deadline=None)
@given(_built_tree(), st.data())
def test_roots_and_inclusion_proofs_from_stored_nodes(
    tree: tuple[list[bytes], _Store], data: st.DataObject
) -> None:
    leaves, store = tree
    n = len(leaves)
    m = data.draw(st.integers(min_value=1, max_value=n), label="size")
    i = data.draw(st.integers(min_value=0, max_value=m - 1), label="index")

    store.reads = 0
    root = merkle.root_at(m, store.get)
    assert root == _mth(leaves[:m]) == merkle.root_from_leaves(leaves[:m])
    assert store.reads <= _log_bound(m)

    store.reads = 0
    proof = merkle.inclusion_proof(i, m, store.get)
    assert store.reads <= 2 * _log_bound(m)
    assert proof == _path(i, leaves[:m])
    assert merkle.verify_inclusion(leaves[i], i, m, proof, root)

    for k, element in enumerate(proof):
        for bad in _flipped(element):
            assert not merkle.verify_inclusion(
                leaves[i], i, m, [*proof[:k], bad, *proof[k + 1 :]], root
            )
    for bad in _flipped(root):
        assert not merkle.verify_inclusion(leaves[i], i, m, proof, bad)
    for bad in _flipped(leaves[i]):
        assert not merkle.verify_inclusion(bad, i, m, proof, root)
    assert not merkle.verify_inclusion(leaves[i], i, m, [*proof, root], root)
    if proof:
        assert not merkle.verify_inclusion(leaves[i], i, m, proof[:-1], root)
    assert not merkle.verify_inclusion(leaves[i], m, m, proof, root)
    if m > 1:
        other = (i + 1) % m
        assert not merkle.verify_inclusion(leaves[i], other, m, proof, root)


@settings(max_examples=150, deadline=None)
@given(_built_tree(), st.data())
def test_consistency_proofs_from_stored_nodes(
    tree: tuple[list[bytes], _Store], data: st.DataObject
) -> None:
    leaves, store = tree
    n = len(leaves)
    m = data.draw(st.integers(min_value=1, max_value=n), label="size1")
    root1, root2 = _mth(leaves[:m]), _mth(leaves)

    store.reads = 0
    proof = merkle.consistency_proof(m, n, store.get)
    assert store.reads <= 2 * _log_bound(n)
    assert proof == _subproof(m, leaves, True)
    assert merkle.verify_consistency(m, n, root1, root2, proof)

    for k, element in enumerate(proof):
        for bad in _flipped(element):
            assert not merkle.verify_consistency(
                m, n, root1, root2, [*proof[:k], bad, *proof[k + 1 :]]
            )
    for bad in _flipped(root1):
        assert not merkle.verify_consistency(m, n, bad, root2, proof)
    for bad in _flipped(root2):
        assert not merkle.verify_consistency(m, n, root1, bad, proof)
    assert not merkle.verify_consistency(m, n, root1, root2, [*proof, root2])
    if proof:
        assert not merkle.verify_consistency(m, n, root1, root2, proof[:-1])
    if m < n:
        assert not merkle.verify_consistency(m + 1, n, root1, root2, proof)
        assert not merkle.verify_consistency(m, n, root2, root1, proof)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300))
def test_compact_tree_streams_the_same_nodes_and_roots(n: int) -> None:
    leaves, store, compact = _leaves(n), _Store(), merkle.CompactTree()
    for leaf in leaves:
        assert compact.append(leaf) == store.append([leaf])
    assert compact.size == n
    assert compact.root() == _mth(leaves) == merkle.root_at(n, store.get)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=40))
def test_a_copied_compact_tree_grows_apart_from_its_original(n: int, more: int) -> None:
    leaves = _leaves(n + more)
    original = merkle.CompactTree()
    for leaf in leaves[:n]:
        original.append(leaf)
    copy = original.copy()
    for leaf in leaves[n:]:
        copy.append(leaf)
    assert (original.size, original.root()) == (n, _mth(leaves[:n]))
    assert (copy.size, copy.root()) == (n + more, _mth(leaves))


# --------------------------------------------------------------------------- edges


def test_empty_tree_root() -> None:
    assert merkle.root_at(0, _Store().get) == merkle.EMPTY_ROOT == hashlib.sha256().digest()
    assert merkle.root_from_leaves([]) == merkle.EMPTY_ROOT


def test_reads_stay_logarithmic_at_a_million_leaves() -> None:
    """Proofs for a huge tree read O(log n) nodes; the store is faked, never filled."""
    reads: list[tuple[int, int]] = []

    def get(level: int, index: int) -> bytes:
        reads.append((level, index))
        return hashlib.sha256(b"%d/%d" % (level, index)).digest()

    n = 1_000_003
    for call in (
        lambda: merkle.root_at(n, get),
        lambda: merkle.inclusion_proof(12345, n, get),
        lambda: merkle.inclusion_proof(n - 1, n, get),
        lambda: merkle.consistency_proof(777_777, n, get),
        lambda: merkle.nodes_completed_by_append((1 << 20) - 1, [leaf_hash(b"x")], get),
    ):
        reads.clear()
        call()
        assert 0 < len(reads) <= 2 * n.bit_length()


def test_a_stored_node_that_is_not_a_hash_is_refused() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.root_at(2, lambda level, index: b"short")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (3, 3), (-1, 4)])
def test_inclusion_proof_generation_refuses_bad_indexes(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(index, size, _Store().get)


@pytest.mark.parametrize(("size1", "size2"), [(0, 0), (0, 4), (5, 4)])
def test_consistency_proof_generation_refuses_bad_sizes(size1: int, size2: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(size1, size2, _Store().get)


def test_check_functions_say_why() -> None:
    leaves = _leaves(5)
    store = _Store()
    store.append(leaves)
    root = merkle.root_at(5, store.get)
    proof = merkle.inclusion_proof(2, 5, store.get)
    with pytest.raises(merkle.ProofError, match="not below tree size"):
        merkle.check_inclusion(leaves[2], 5, 5, proof, root)
    with pytest.raises(merkle.ProofError, match="too many"):
        merkle.check_inclusion(leaves[2], 2, 5, [*proof, root], root)
    with pytest.raises(merkle.ProofError, match="does not lead to the root"):
        merkle.check_inclusion(leaves[3], 2, 5, proof, root)
    with pytest.raises(merkle.ProofError, match="empty tree"):
        merkle.check_consistency(0, 5, merkle.EMPTY_ROOT, root, [])
    with pytest.raises(merkle.ProofError, match="greater"):
        merkle.check_consistency(5, 4, root, root, [])


def test_append_refuses_leaves_that_are_not_hashes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.nodes_completed_by_append(0, [b"not a hash"], _Store().get)
    with pytest.raises(ValueError, match="32 bytes"):
        merkle.CompactTree().append(b"")


@given(st.integers(1, 5000))
def test_stored_node_keys_grow_in_the_order_appends_complete_the_nodes(leaf_count: int) -> None:
    from ledger.store.sqlite.tree import node_key

    completed = [
        (level, (size >> level) - 1)
        for size in range(1, leaf_count + 1)
        for level in range(1, (size & -size).bit_length())
    ]
    keys = [node_key(level, index) for level, index in completed]
    assert keys == sorted(set(keys))  # strictly increasing, so also one key per node
    assert len(completed) == leaf_count - bin(leaf_count).count("1")
