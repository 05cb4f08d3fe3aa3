"""Cosignatures in the store (SQLite and PostgreSQL), and the ledger's side of witnessing
against a real witness app and its SQLite state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.witness_app import WitnessConfig, create_witness_app
from ledger import checkpoint as cp
from ledger import cosignature
from ledger.log import LogService
from ledger.store import EventStore
from ledger.store.cosignatures import StoredCosignature
from ledger.witnessed import WitnessTarget, parse_witnesses, quorum
from tests.support.ledger_log import BACKENDS, grow, new_store, story
from workers.witnessing import WitnessingError, witness_latest

ORIGIN = "ledger.example.org/cosigned"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    with new_store(request.param, tmp_path) as (opened, _url):
        yield opened


def cosig(size: int, witness: str, timestamp: int, line: str = "x") -> StoredCosignature:
    return StoredCosignature(size, witness, "0a0b0c0d", timestamp, line, "2026-01-01T00:00:00Z")


def test_cosignatures_are_kept_per_size_and_witness_and_a_newer_one_replaces(
    store: EventStore,
) -> None:
    store.add_cosignature(cosig(5, "w1", 100, "first"))
    store.add_cosignature(cosig(5, "w2", 100, "other"))
    store.add_cosignature(cosig(5, "w1", 90, "older"))  # ignored: older than what is kept
    store.add_cosignature(cosig(9, "w1", 120, "later"))
    assert [(c.witness, c.line) for c in store.cosignatures_at(5)] == [
        ("w1", "first"), ("w2", "other")
    ]
    store.add_cosignature(cosig(5, "w1", 130, "newer"))
    assert store.cosignatures_at(5)[0].line == "newer"
    assert store.witnessed_size("w1", "0a0b0c0d") == 9
    assert store.witnessed_size("w2", "0a0b0c0d") == 5
    assert store.witnessed_size("w3", "0a0b0c0d") == 0
    assert store.cosignatures_at(7) == []


class Witness:
    """A real witness app (its SQLite state in ``directory``) reached through its client."""

    def __init__(self, directory: Path, log_key: str) -> None:
        self.key = cp.generate_signing_key()
        self.name = "witness.example.org/w1"
        self.directory = directory
        self.log_key = cp.parse_verifier_key(log_key)
        self.restart()

    def restart(self) -> None:
        config = WitnessConfig(self.name, self.key, self.directory / "witness.db",
                               {ORIGIN: [self.log_key]})
        self.client = create_witness_app(config).test_client()

    @property
    def target(self) -> WitnessTarget:
        vkey = cosignature.cosigner_key(self.name, self.key)
        [target] = parse_witnesses(f"{vkey}@http://witness.invalid:8100")
        return target

    def post(self, url: str, body: bytes) -> tuple[int, str, bytes]:
        assert url == "http://witness.invalid:8100/add-checkpoint"
        response = self.client.post("/add-checkpoint", data=body)
        return response.status_code, response.headers["Content-Type"], response.get_data()


def test_the_latest_checkpoint_is_cosigned_then_kept_in_step_as_the_log_grows(
    store: EventStore, tmp_path: Path
) -> None:
    service = LogService(store, cp.generate_signing_key(), ORIGIN)
    claims = story(4)
    grow([store], 7, claims)
    service.issue()
    witness = Witness(tmp_path, service.verifier_key)
    assert witness_latest(store, witness.target, witness.post) == 7
    assert witness_latest(store, witness.target, witness.post) == 0  # nothing new
    grow([store], 30, claims, seed=2)
    latest = service.issue()
    assert witness_latest(store, witness.target, witness.post) == 37
    note = latest.note + "".join(c.line + "\n" for c in store.cosignatures_at(37))
    assert quorum(note, [witness.target.key], 1).ok
    assert cp.open_checkpoint(note, service.verifier_key).size == 37


def test_a_witness_that_lost_or_skipped_state_is_brought_in_step_by_its_409(
    store: EventStore, tmp_path: Path
) -> None:
    service = LogService(store, cp.generate_signing_key(), ORIGIN)
    claims = story(3)
    grow([store], 5, claims)
    service.issue()
    witness = Witness(tmp_path / "a", service.verifier_key)
    assert witness_latest(store, witness.target, witness.post) == 5
    (tmp_path / "b").mkdir()
    witness.directory = tmp_path / "b"  # a witness restarted on an empty state file
    witness.restart()
    grow([store], 5, claims, seed=3)
    service.issue()
    assert witness_latest(store, witness.target, witness.post) == 10  # old 5 -> 409 "0" -> old 0


def test_a_witness_answering_garbage_or_refusing_fails_the_job_and_stores_nothing(
    store: EventStore, tmp_path: Path
) -> None:
    service = LogService(store, cp.generate_signing_key(), ORIGIN)
    grow([store], 4, story(2))
    service.issue()
    witness = Witness(tmp_path, cp.verifier_key(ORIGIN, cp.generate_signing_key().public_key()))
    with pytest.raises(WitnessingError, match="403"):
        witness_latest(store, witness.target, witness.post)  # it trusts another log key
    with pytest.raises(WitnessingError, match="no valid cosignature"):
        witness_latest(store, witness.target, lambda url, body: (200, "text/plain", b"\xe2\x80"))
    assert store.cosignatures_at(4) == []


def test_both_checkpoint_endpoints_serve_the_cosignatures_as_extra_lines(tmp_path: Path) -> None:
    from tests.support.api_harness import ApiHarness

    key = tmp_path / "signing.key"
    cp.load_or_create_signing_key(key)
    api = ApiHarness.create(tmp_path, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN, CHECKPOINT_INTERVAL=0)
    api.new_claim()
    plain = api.get("/v1/log/checkpoint", role="auditor").get_data(as_text=True)
    size = cp.parse_checkpoint_body(plain.split("\n\n")[0] + "\n").size
    witness_key = cp.generate_signing_key()
    line = cosignature.cosign(plain.split("\n\n")[0] + "\n", "w.example/1", witness_key, 1000)
    api.store.add_cosignature(
        StoredCosignature(size, "w.example/1", "00000000", 1000, line.rstrip("\n"), "t")
    )
    trusted = [cosignature.parse_cosigner_key(cosignature.cosigner_key("w.example/1",
                                                                        witness_key))]
    for path in ("/v1/log/checkpoint", "/tlog/checkpoint", f"/v1/log/checkpoint?size={size}"):
        note = api.get(path, role="auditor").get_data(as_text=True)
        assert note == plain + line
        assert quorum(note, trusted, 1).ok
