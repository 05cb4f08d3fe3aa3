"""The tree in the store: nodes written with each append, proofs that verify, one query each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.errors import IntegrityError
from ledger.store import EventStore, open_store
from ledger.store.tree import TreeSizeError
from tests.support.ledger_log import BACKENDS, grow, leaves, new_store, raw, story, unguard

SIZE = 300
NODES = "SELECT level, idx, hash FROM merkle_nodes ORDER BY level, idx"


@dataclass
class Grown:
    """A store grown to SIZE events by two store objects taking turns, and its leaves."""

    store: EventStore
    url: str
    leaves: list[bytes]


@pytest.fixture(scope="module", params=BACKENDS)
def grown(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Grown]:
    with new_store(request.param, tmp_path_factory.mktemp("tree")) as (store, url):
        other = open_store(url)  # a second writer: each one's frontier cache goes stale
        try:
            events = grow([store, other], SIZE, story(7))
        finally:
            other.close()
        yield Grown(store, url, leaves(events))


def _flip(value: bytes, byte: int, bit: int) -> bytes:
    changed = bytearray(value)
    changed[byte % len(changed)] ^= 1 << bit
    return bytes(changed)


_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(data=st.data())
def test_inclusion_proofs_from_the_store_verify_and_one_changed_byte_breaks_them(
    grown: Grown, data: st.DataObject
) -> None:
    size = data.draw(st.integers(1, SIZE), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = grown.store.inclusion_proof(index, size)
    assert proof.leaf_hash == grown.leaves[index]
    assert proof.root == merkle.root_from_leaves(grown.leaves[:size])
    assert merkle.verify_inclusion(proof.leaf_hash, index, size, proof.proof, proof.root)

    parts = [proof.leaf_hash, proof.root, *proof.proof]
    which = data.draw(st.integers(0, len(parts) - 1), label="which hash")
    parts[which] = _flip(parts[which], data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7)))
    assert not merkle.verify_inclusion(parts[0], index, size, parts[2:], parts[1])


@_SETTINGS
@given(data=st.data())
def test_consistency_proofs_from_the_store_verify_and_one_changed_byte_breaks_them(
    grown: Grown, data: st.DataObject
) -> None:
    second = data.draw(st.integers(1, SIZE), label="to")
    first = data.draw(st.integers(1, second), label="from")
    proof = grown.store.consistency_proof(first, second)
    assert proof.root_first == merkle.root_from_leaves(grown.leaves[:first])
    assert proof.root_second == grown.store.root(second)
    roots = (proof.root_first, proof.root_second)
    assert merkle.verify_consistency(first, second, *roots, proof.proof)

    parts = [proof.root_first, proof.root_second, *proof.proof]
    which = data.draw(st.integers(0, len(parts) - 1), label="which hash")
    parts[which] = _flip(parts[which], data.draw(st.integers(0, 31)), data.draw(st.integers(0, 7)))
    assert not merkle.verify_consistency(first, second, parts[0], parts[1], parts[2:])


def test_every_root_equals_the_root_recomputed_from_the_leaves(grown: Grown) -> None:
    tree = merkle.CompactTree()
    for size, leaf in enumerate(grown.leaves, start=1):
        tree.append(leaf)
        assert grown.store.root(size) == tree.root(), size
    assert grown.store.root(0) == merkle.EMPTY_ROOT


def test_about_one_node_row_is_stored_per_event_and_none_for_the_leaves(grown: Grown) -> None:
    [(count,)] = raw(grown.url, "SELECT count(*) FROM merkle_nodes")
    assert count == SIZE - bin(SIZE).count("1")  # one per completed subtree above the leaves
    [(leaf_rows,)] = raw(grown.url, "SELECT count(*) FROM merkle_nodes WHERE level = 0")
    assert leaf_rows == 0  # level 0 is events.leaf_hash


def test_a_proof_reads_its_log_n_nodes_in_one_query(
    grown: Grown, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = grown.store.tree.nodes.by_keys

    def counting(keys: Any) -> Any:
        calls.append(len(keys))
        return original(keys)

    monkeypatch.setattr(grown.store.tree.nodes, "by_keys", counting)
    grown.store.inclusion_proof(123, SIZE)
    grown.store.consistency_proof(77, SIZE)
    grown.store.root(SIZE - 1)
    assert len(calls) == 3
    assert max(calls) <= 3 * SIZE.bit_length()


def test_batched_inclusion_proofs_equal_single_ones(grown: Grown) -> None:
    indexes = [0, 5, 99, 299]
    root, proofs = grown.store.inclusion_proofs(indexes, SIZE)
    assert root == grown.store.root(SIZE)
    assert proofs == [grown.store.inclusion_proof(i, SIZE).proof for i in indexes]


def test_sizes_past_the_head_and_bad_ranges_are_refused(grown: Grown) -> None:
    with pytest.raises(TreeSizeError) as past:
        grown.store.inclusion_proof(0, SIZE + 1)
    assert past.value.beyond_head
    with pytest.raises(TreeSizeError) as past:
        grown.store.consistency_proof(3, SIZE + 5)
    assert past.value.beyond_head
    for bad in (lambda: grown.store.inclusion_proof(SIZE, SIZE),
                lambda: grown.store.consistency_proof(0, 5),
                lambda: grown.store.consistency_proof(6, 5)):
        with pytest.raises(TreeSizeError) as caught:
            bad()
        assert not caught.value.beyond_head


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_tree_tables_refuse_update_and_delete(backend: str, tmp_path: Path) -> None:
    with new_store(backend, tmp_path) as (store, url):
        grow([store], 5, story(1))
        from ledger.checkpoint import generate_signing_key
        from ledger.log import LogService

        LogService(store, generate_signing_key(), "test.example/log").issue()
        for statement in ("UPDATE merkle_nodes SET idx = idx + 100", "DELETE FROM merkle_nodes",
                          "UPDATE checkpoints SET size = 99", "DELETE FROM checkpoints",
                          "DELETE FROM payloads WHERE position = 2"):
            with pytest.raises(Exception, match="append-only"):
                raw(url, statement)


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_builds_the_nodes_of_a_log_that_has_none(backend: str, tmp_path: Path) -> None:
    with new_store(backend, tmp_path) as (store, url):
        events = grow([store], 41, story(3))
        before = raw(url, NODES)
        unguard(url)
        raw(url, "DELETE FROM merkle_nodes")
        fresh = open_store(url)  # no frontier cached: it has to read the (missing) nodes
        try:
            with pytest.raises(IntegrityError, match="claimledger init"):
                grow([fresh], 1, story(1))
            progress: list[int] = []
            assert fresh.backfill_nodes(progress=progress.append) == 41
            assert sum(progress) == 41
            assert fresh.backfill_nodes() == 0  # safe to repeat
            assert raw(url, NODES) == before
            more = grow([fresh], 9, story(2), seed=2)
        finally:
            fresh.close()
        assert store.root(50) == merkle.root_from_leaves(leaves(events + more))


@pytest.mark.parametrize("backend", BACKENDS)
def test_restore_writes_the_nodes_and_keeps_redactions(backend: str, tmp_path: Path) -> None:
    with new_store(backend, tmp_path) as (store, _), new_store(backend, tmp_path) as (target, url):
        events = grow([store], 23, story(3))
        store.redact(events[4].id, actor="legal@example.org", reason="Court order 14-223.")
        exported = list(store.iter_all())
        assert exported[4].data is None
        assert exported[4].redaction is not None
        assert target.restore(exported, batch=4) == 23
        assert [e.to_json() for e in target.iter_all()] == [e.to_json() for e in exported]
        assert target.root(23) == store.root(23)
        [(count,)] = raw(url, "SELECT count(*) FROM merkle_nodes")
        assert count == 23 - bin(23).count("1")
        tampered = list(exported)
        tampered[4] = tampered[4]._replace(redaction=None)
        with new_store(backend, tmp_path) as (other, _), pytest.raises(IntegrityError,
                                                                         match="position 5"):
            other.restore(tampered)


def test_a_ledger_made_before_nodes_were_keyed_in_append_order_keeps_them_after_init(
    tmp_path: Path,
) -> None:
    from ledger.audit import audit
    from ledger.store.sqlite import schema as sqlite_store
    from ledger.store.sqlite.tree import node_key

    with new_store("sqlite", tmp_path / "now") as (store, url):
        events = grow([store], 45, story(4))
        nodes = raw(url, NODES)
        proof = store.inclusion_proof(17, 45)
    assert len(nodes) == 45 - bin(45).count("1")
    # the same ledger as migration 3 stored it: nodes keyed by (level, idx)
    old = f"sqlite:///{tmp_path / 'old.db'}"
    split = sqlite_store.split_script
    raw(old, *[s for script in sqlite_store.MIGRATIONS[:3] for s in split(script)],
        "CREATE TABLE ledger_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        "INSERT INTO ledger_schema VALUES (1, 'x'), (2, 'x'), (3, 'x')",
        f"ATTACH '{url.removeprefix('sqlite:///')}' AS now",
        "INSERT INTO events SELECT * FROM now.events",
        "INSERT INTO payloads SELECT * FROM now.payloads",
        "INSERT INTO merkle_nodes SELECT level, idx, hash FROM now.merkle_nodes")
    upgraded = open_store(old)
    try:
        upgraded.init()
        assert raw(old, NODES) == nodes
        keys = [k for (k,) in raw(old, "SELECT k FROM merkle_nodes ORDER BY k")]
        assert keys == sorted(node_key(level, index) for level, index, _ in nodes)
        assert upgraded.inclusion_proof(17, 45) == proof
        assert upgraded.root(45) == merkle.root_from_leaves(leaves(events))
        grow([upgraded], 5, story(2))  # appends after the upgrade extend the same tree
        report = audit(upgraded)
        assert report.failure is None
        assert report.events == 50
    finally:
        upgraded.close()
