"""The log service: signed checkpoints issued, stored and throttled; JSON proofs; history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import checkpoint as cp
from ledger import merkle
from ledger.errors import ClaimNotFound
from ledger.log import LogService
from ledger.store import EventStore
from ledger.verifier import verify_checkpoint_consistency, verify_history
from tests.support.ledger_log import BACKENDS, grow, new_store, story

ORIGIN = "ledger.example.org/log"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    with new_store(request.param, tmp_path) as (store, _):
        yield store


@pytest.fixture
def key() -> cp.Ed25519PrivateKey:
    return cp.generate_signing_key()


def service(store: EventStore, key: cp.Ed25519PrivateKey, **options: object) -> LogService:
    return LogService(store, key, ORIGIN, **options)  # type: ignore[arg-type]


def test_an_issued_checkpoint_is_signed_stored_and_served_again(
    store: EventStore, key: cp.Ed25519PrivateKey
) -> None:
    log = service(store, key)
    empty = log.issue()
    assert cp.open_checkpoint(empty.note, log.verifier_key) == (ORIGIN, 0, merkle.EMPTY_ROOT)
    grow([store], 12, story(2))
    issued = log.issue()
    assert cp.open_checkpoint(issued.note, log.verifier_key) == (ORIGIN, 12, store.root(12))
    assert log.issue() == issued  # same head: the stored one
    assert store.latest_checkpoint() == issued
    assert store.checkpoint_at(0) == empty
    assert store.checkpoint_at(5) is None


def test_after_append_issues_at_most_one_checkpoint_per_interval(
    store: EventStore, key: cp.Ed25519PrivateKey
) -> None:
    clock = Clock()
    log = service(store, key, interval=10.0, clock=clock)
    grow([store], 3, story(1))
    assert log.after_append() is not None
    grow([store], 3, story(1), seed=2)
    assert log.after_append() is None
    assert store.latest_checkpoint().size == 3  # type: ignore[union-attr]
    clock.now += 10
    issued = log.after_append()
    assert issued is not None
    assert issued.size == 6


def test_current_issues_when_none_exists_or_when_the_latest_lags_and_is_old(
    store: EventStore, key: cp.Ed25519PrivateKey
) -> None:
    patient = service(store, key, interval=3600.0)
    assert patient.current().size == 0
    grow([store], 4, story(1))
    assert patient.current().size == 0  # lagging but fresh: served as it is
    eager = service(store, key, interval=0.0)
    assert eager.current().size == 4
    assert patient.covering(4).size == 4
    grow([store], 1, story(1), seed=3)
    assert patient.covering(5).size == 5


def test_proofs_are_the_api_bodies_in_lowercase_hex_and_verify(
    store: EventStore, key: cp.Ed25519PrivateKey
) -> None:
    log = service(store, key, interval=0.0)
    grow([store], 20, story(3))
    first = log.issue()
    grow([store], 9, story(3), seed=4)
    second = log.issue()

    inclusion = log.inclusion(7, 20)
    assert set(inclusion) == {"index", "size", "leaf_hash", "root", "proof"}
    assert inclusion["root"] == first.root.hex()
    assert inclusion["index"] == 7
    assert merkle.verify_inclusion(
        bytes.fromhex(inclusion["leaf_hash"]), 7, 20,
        [bytes.fromhex(h) for h in inclusion["proof"]], first.root,
    )
    assert log.inclusion(3)["size"] == 29  # size defaults to the latest checkpoint's

    consistency = log.consistency(20, 29)
    assert set(consistency) == {"from", "to", "root_from", "root_to", "proof"}
    assert all(h == h.lower() for h in consistency["proof"])
    assert verify_checkpoint_consistency(
        first.note, second.note, consistency["proof"], log.verifier_key
    ).ok
    assert log.consistency(20)["to"] == 29


def test_history_with_proofs_verifies_against_its_one_checkpoint(
    store: EventStore, key: cp.Ed25519PrivateKey
) -> None:
    log = service(store, key, interval=3600.0)
    claims = story(3)
    grow([store], 30, claims)
    log.issue()
    grow([store], 5, claims, seed=5)  # some events are newer than the checkpoint
    history = log.history(claims[0])
    events = history["events"]
    assert [e["leaf_index"] for e in events] == [e["position"] - 1 for e in events]
    result = verify_history(events, history["checkpoint"], log.verifier_key, claim_id=claims[0])
    assert result.ok, result.summary()
    assert result.checkpoint is not None
    assert result.checkpoint.size >= events[-1]["position"]
    with pytest.raises(ClaimNotFound):
        log.history(story(1)[0])


def test_a_redacted_event_keeps_every_proof_and_shows_its_redaction(
    store: EventStore, key: cp.Ed25519PrivateKey
) -> None:
    log = service(store, key, interval=0.0)
    claims = story(2)
    events = grow([store], 16, claims)
    before = log.issue()
    victim = next(e for e in events if e.claim_id == claims[0] and e.version == 2)
    redacted = store.redact(victim.id, actor="legal@example.org", reason="Court order 14-223.")
    assert redacted.data is None
    assert dict(redacted.redaction or {}) == {
        "actor": "legal@example.org", "reason": "Court order 14-223.",
        "redacted_at": redacted.redaction["redacted_at"],  # type: ignore[index]
    }
    assert store.get_event(victim.id) == redacted
    assert store.root(16) == before.root
    history = log.history(claims[0])
    shown = next(e for e in history["events"] if e["id"] == victim.id)
    assert shown["data"] is None
    assert shown["redaction"]["reason"] == "Court order 14-223."
    result = verify_history(history["events"], history["checkpoint"], log.verifier_key)
    assert result.ok
    assert result.redacted == [victim.position]
    with pytest.raises(Exception, match="already redacted"):
        store.redact(victim.id, actor="legal@example.org", reason="Again.")
