"""The auditor's verifier: a valid history passes, and every kind of tampering is named."""

from __future__ import annotations

import ast
import copy
import inspect
import sys
from collections.abc import Callable
from typing import Any

import pytest

from ledger import checkpoint as cp
from ledger import envelope, hashing, integrity, merkle
from ledger import verifier as v
from ledger.envelope import RecordedEvent

ORIGIN = "ledger.test/log"
KEY = cp.generate_signing_key()
VKEY = cp.verifier_key(ORIGIN, KEY.public_key())

Event = dict[str, Any]


class Log:
    """A whole log in memory: envelopes, leaves and stored nodes, as the store keeps them."""

    def __init__(self) -> None:
        self.events: list[RecordedEvent] = []
        self.leaves: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        return self.leaves[index] if level == 0 else self.nodes[(level, index)]

    def append(self, claim_id: str, type: str, data: dict[str, Any], actor: str = "alice") -> None:
        prev = next((e for e in reversed(self.events) if e.claim_id == claim_id), None)
        position = len(self.events) + 1
        fields: dict[str, Any] = {
            "position": position,
            "id": f"00000000-0000-4000-8000-{position:012d}",
            "claim_id": claim_id,
            "version": prev.version + 1 if prev else 1,
            "type": type,
            "schema_version": 1,
            "occurred_at": f"2024-05-01T10:00:{position:02d}.000000Z",
            "recorded_at": f"2024-05-01T10:00:{position:02d}.123456Z",
            "actor": actor,
            "payload_sha256": hashing.payload_sha256(data),
            "prev_hash": prev.leaf_hash if prev else None,
        }
        leaf = hashing.leaf_hash(hashing.leaf_input(**fields))
        for level, index, value in merkle.nodes_completed_by_append(
            len(self.leaves), [leaf], self.get
        ):
            self.nodes[(level, index)] = value
        self.leaves.append(leaf)
        self.events.append(RecordedEvent(data=data, metadata={}, leaf_hash=leaf.hex(), **fields))

    def checkpoint(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        return cp.sign_checkpoint(ORIGIN, size, merkle.root_at(size, self.get), KEY)

    def history(self, claim_id: str, size: int | None = None) -> tuple[list[Event], str]:
        """What ``GET /v1/claims/{id}/history?proofs=true`` answers."""
        size = len(self.leaves) if size is None else size
        out = []
        for event in self.events[:size]:
            if event.claim_id == claim_id:
                body = event.to_json()
                body["leaf_index"] = event.position - 1
                proof = merkle.inclusion_proof(event.position - 1, size, self.get)
                body["inclusion_proof"] = [h.hex() for h in proof]
                out.append(body)
        return out, self.checkpoint(size)

    def consistency(self, size1: int, size2: int) -> list[str]:
        return [h.hex() for h in merkle.consistency_proof(size1, size2, self.get)]


def _log(rewrite_position: int | None = None) -> Log:
    """Claims A and B interleaved; A has five events at positions 1, 3, 4, 6, 7."""
    log = Log()
    plan: list[tuple[str, str, dict[str, Any]]] = [
        ("A", "claim.recorded", {"statement": "The moon is made of cheese"}),
        ("B", "claim.recorded", {"statement": "Water is wet"}),
        ("A", "appearance.added", {"url": "https://news.example/1"}),
        ("A", "denial.added", {"by": "NASA", "note": "no"}),
        ("B", "appearance.added", {"url": "https://news.example/2"}),
        ("A", "verdict.issued", {"value": "false", "score": 0}),
        ("A", "tag.added", {"tag": "space"}),
        ("B", "tag.added", {"tag": "water"}),
    ]
    for position, (claim, type, data) in enumerate(plan, start=1):
        if position == rewrite_position:
            data = {**data, "rewritten": True}
        log.append(claim, type, data)
    return log


def _failures(result: v.VerificationResult) -> set[tuple[str, int | None]]:
    return {(f.check, f.position) for f in result.failures}


# --------------------------------------------------------------------------- valid


def test_a_valid_history_passes_every_check() -> None:
    events, note = _log().history("A")
    result = v.verify_history(events, note, VKEY, claim_id="A", origin=ORIGIN)
    assert result.ok, result.summary()
    assert result.first_failure is None
    assert result.checkpoint is not None
    assert result.checkpoint.size == 8
    for kind in ("payload", "leaf", "chain", "inclusion", "version"):
        assert result.checks[kind] == 5
    assert result.checks["checkpoint"] == 1
    assert "OK" in result.summary()


def test_history_against_an_older_checkpoint() -> None:
    events, note = _log().history("A", size=4)
    assert [e["position"] for e in events] == [1, 3, 4]
    assert v.verify_history(events, note, VKEY).ok


def test_history_alone_without_a_checkpoint() -> None:
    events, _ = _log().history("A")
    for event in events:
        del event["inclusion_proof"], event["leaf_index"]
    result = v.verify_history(events, None, None)
    assert result.ok
    assert result.checks["inclusion"] == 0


def test_a_page_of_a_history_verifies_from_where_it_starts() -> None:
    events, note = _log().history("A")
    page = events[2:]  # versions 3-5
    anchored = v.verify_history(page, note, VKEY, claim_id="A", start=2,
                                start_leaf=events[1]["leaf_hash"])
    assert anchored.ok, anchored.summary()
    assert anchored.checks["chain"] == 3
    assert v.verify_history(page, note, VKEY, start=2).ok  # linked by its own prev_hash
    assert _failures(v.verify_history(page, note, VKEY)) == {("version", 4), ("chain", 4)}
    wrong = v.verify_history(page, note, VKEY, start=2, start_leaf=events[0]["leaf_hash"])
    assert _failures(wrong) == {("chain", 4)}
    assert _failures(v.verify_history(page, note, VKEY, start=3)) == {("version", 4)}


def test_a_redacted_payload_still_verifies() -> None:
    events, note = _log().history("A")
    events[2]["data"] = None
    events[2]["redaction"] = {"by": "admin", "reason": "court order"}
    result = v.verify_history(events, note, VKEY)
    assert result.ok, result.summary()
    assert result.redacted == [4]
    assert result.checks["payload"] == 4
    assert "redacted" in result.summary()


# --------------------------------------------------------------------------- tampering


def _set(index: int, **changes: Any) -> Callable[[list[Event]], None]:
    def tamper(events: list[Event]) -> None:
        events[index].update(changes)

    return tamper


def _delete(index: int) -> Callable[[list[Event]], None]:
    def tamper(events: list[Event]) -> None:
        del events[index]

    return tamper


def _drop(index: int, key: str) -> Callable[[list[Event]], None]:
    def tamper(events: list[Event]) -> None:
        del events[index][key]

    return tamper


def _truncate_proof(index: int) -> Callable[[list[Event]], None]:
    def tamper(events: list[Event]) -> None:
        events[index]["inclusion_proof"].pop()

    return tamper


def _swap(i: int, j: int) -> Callable[[list[Event]], None]:
    def tamper(events: list[Event]) -> None:
        events[i], events[j] = events[j], events[i]

    return tamper


def _flip_proof(index: int) -> Callable[[list[Event]], None]:
    def tamper(events: list[Event]) -> None:
        proof = events[index]["inclusion_proof"]
        proof[0] = ("0" if proof[0][0] != "0" else "1") + proof[0][1:]

    return tamper


def _rehash(index: int, **changes: Any) -> Callable[[list[Event]], None]:
    """Change an event and recompute its hashes and the chain after it, as a forger would."""

    def tamper(events: list[Event]) -> None:
        events[index].update(changes)
        for k in range(index, len(events)):
            event = events[k]
            if k > 0:
                event["prev_hash"] = events[k - 1]["leaf_hash"]
            event["payload_sha256"] = hashing.payload_sha256(event["data"])
            event["leaf_hash"] = v.recompute_leaf_hash(event).hex()

    return tamper


# Claim A's events are at positions 1, 3, 4, 6, 7 (indexes 0-4 in its history).
TAMPERING: list[tuple[str, Callable[[list[Event]], None], str, int]] = [
    ("data edited", _set(2, data={"by": "NASA", "note": "yes"}), "payload", 4),
    ("payload hash edited", _set(1, payload_sha256="ab" * 32), "payload", 3),
    ("actor edited", _set(3, actor="mallory"), "leaf", 6),
    ("time edited", _set(1, recorded_at="2024-05-01T10:00:03.123457Z"), "leaf", 3),
    ("type edited", _set(4, type="tag.removed"), "leaf", 7),
    ("stated leaf hash edited", _set(2, leaf_hash="cd" * 32), "leaf", 4),
    ("prev_hash edited", _set(3, prev_hash="ef" * 32), "chain", 6),
    ("event deleted", _delete(2), "version", 6),
    ("events reordered", _swap(1, 2), "version", 3),
    ("version renumbered", _set(4, version=9), "version", 7),
    ("event from another claim", _set(3, claim_id="B"), "claim", 6),
    (
        "history rewritten and rehashed",
        _rehash(1, data={"url": "https://fake.example"}),
        "inclusion",
        3,
    ),
    ("inclusion proof edited", _flip_proof(3), "inclusion", 6),
    ("inclusion proof truncated", _truncate_proof(0), "inclusion", 1),
    ("leaf index moved", _set(1, leaf_index=3), "inclusion", 3),
    ("proof missing", _set(4, inclusion_proof=None), "inclusion", 7),
    ("field missing", _drop(1, "actor"), "format", 3),
    ("data key missing", _drop(3, "data"), "format", 6),
    ("hash not hex", _set(1, payload_sha256="zz" * 32), "format", 3),
]


@pytest.mark.parametrize(
    ("tamper", "check", "position"),
    [t[1:] for t in TAMPERING],
    ids=[t[0] for t in TAMPERING],
)
def test_tampering_is_named_with_its_position(
    tamper: Callable[[list[Event]], None], check: str, position: int
) -> None:
    events, note = _log().history("A")
    tamper(events)
    result = v.verify_history(events, note, VKEY, claim_id="A")
    assert not result.ok
    assert (check, position) in _failures(result), result.failures
    first = result.first_failure
    assert first is not None
    assert first.position == position, result.failures
    assert f"position {position}" in result.summary()


def test_rewritten_history_passes_every_local_check_but_inclusion() -> None:
    events, note = _log().history("A")
    _rehash(1, data={"url": "https://fake.example"})(events)
    result = v.verify_history(events, note, VKEY)
    assert {check for check, _ in _failures(result)} == {"inclusion"}
    assert _failures(result) == {("inclusion", p) for p in (3, 4, 6, 7)}


def test_a_tampered_checkpoint_is_named_and_proofs_are_not_trusted() -> None:
    events, note = _log().history("A")
    forged = note.replace("\n8\n", "\n9\n")
    result = v.verify_history(events, forged, VKEY)
    assert _failures(result) == {("checkpoint", None)}
    assert result.checks["inclusion"] == 0
    assert str(result.first_failure).startswith("log: checkpoint check failed")


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    events, _ = _log().history("A")
    other = cp.generate_signing_key()
    note = cp.sign_checkpoint(ORIGIN, 8, merkle.root_at(8, _log().get), other)
    assert _failures(v.verify_history(events, note, VKEY)) == {("checkpoint", None)}


def test_an_empty_history_fails() -> None:
    _, note = _log().history("A")
    assert _failures(v.verify_history([], note, VKEY)) == {("format", None)}


def test_checkpoint_and_key_come_together() -> None:
    events, note = _log().history("A")
    with pytest.raises(ValueError, match="both"):
        v.verify_history(events, note, None)


# --------------------------------------------------------------------------- consistency


def test_consistency_of_a_growing_log() -> None:
    log = _log()
    saved = log.checkpoint(3)
    result = v.verify_checkpoint_consistency(saved, log.checkpoint(), log.consistency(3, 8), VKEY)
    assert result.ok, result.summary()
    assert result.checks["consistency"] == 1
    assert result.checks["checkpoint"] == 2


def test_consistency_edges() -> None:
    log = _log()
    same = v.verify_checkpoint_consistency(log.checkpoint(), log.checkpoint(), [], VKEY)
    assert same.ok
    empty = v.verify_checkpoint_consistency(log.checkpoint(0), log.checkpoint(), [], VKEY)
    assert empty.ok


def test_a_rewritten_and_resigned_log_is_caught_by_consistency() -> None:
    honest = _log()
    saved = honest.checkpoint(5)  # what the auditor saved earlier
    forged = _log(rewrite_position=3)  # position 3 rewritten, everything re-signed
    events, note = forged.history("A")
    assert v.verify_history(events, note, VKEY).ok  # self-consistent on its own...
    result = v.verify_checkpoint_consistency(saved, note, forged.consistency(5, 8), VKEY)
    assert _failures(result) == {("consistency", None)}  # ...but not an extension
    assert "not a prefix" in str(result.first_failure)


def test_a_shrunk_or_forked_log_is_caught() -> None:
    log, forged = _log(), _log(rewrite_position=2)
    shrank = v.verify_checkpoint_consistency(log.checkpoint(), log.checkpoint(5), [], VKEY)
    assert "shrank" in str(shrank.first_failure)
    fork = v.verify_checkpoint_consistency(log.checkpoint(), forged.checkpoint(), [], VKEY)
    assert _failures(fork) == {("consistency", None)}


def test_a_tampered_consistency_proof_fails() -> None:
    log = _log()
    proof = log.consistency(3, 8)
    for i in range(len(proof)):
        bad = copy.copy(proof)
        bad[i] = ("1" if bad[i][0] == "0" else "0") + bad[i][1:]
        result = v.verify_checkpoint_consistency(log.checkpoint(3), log.checkpoint(), bad, VKEY)
        assert _failures(result) == {("consistency", None)}
    garbage = v.verify_checkpoint_consistency(log.checkpoint(3), log.checkpoint(), ["xy"], VKEY)
    assert not garbage.ok


def test_a_bad_saved_checkpoint_is_named() -> None:
    log = _log()
    result = v.verify_checkpoint_consistency("junk", log.checkpoint(), [], VKEY)
    assert _failures(result) == {("checkpoint", None)}
    assert result.checks["consistency"] == 0


def test_verify_checkpoint() -> None:
    log = _log()
    ok = v.verify_checkpoint(log.checkpoint(), VKEY, origin=ORIGIN)
    assert ok.ok
    assert ok.checkpoint == (ORIGIN, 8, merkle.root_at(8, log.get))
    assert not v.verify_checkpoint(log.checkpoint(), VKEY, origin="other.example/log").ok


def test_the_verifier_imports_only_what_an_auditor_has() -> None:
    """stdlib, rfc8785, cryptography and the ledger's pure hashing/merkle/checkpoint."""
    # durable: stdlib-only fsync helpers the checkpoint state file is written with;
    # integrity (the one check of an event) and envelope (the event tuple) are checked too
    ledger_modules = {"hashing", "merkle", "checkpoint", "errors", "durable", "integrity",
                      "envelope"}
    third_party = {"rfc8785", "cryptography"}
    for module in (v, merkle, cp, hashing, integrity, envelope):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.ImportFrom) and node.level:  # from . import x / from .x
                names = {node.module} if node.module else {a.name for a in node.names}
                assert names <= ledger_modules, (module.__name__, names)
            elif isinstance(node, ast.ImportFrom):
                top = (node.module or "").split(".")[0]
                assert top in sys.stdlib_module_names | third_party, (module.__name__, top)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    top = alias.name.split(".")[0]
                    assert top in sys.stdlib_module_names | third_party, (module.__name__, top)
