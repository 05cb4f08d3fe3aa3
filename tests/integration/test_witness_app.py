"""The witness app over HTTP with its SQLite state: cosigning, refusals, restarts."""

from __future__ import annotations

from pathlib import Path

from api.witness_app import WitnessConfig, WitnessState, create_witness_app, parse_logs
from ledger import checkpoint as cp
from ledger import cosignature
from tests.support.witnessing import LOG_KEY, LOG_VKEY, ORIGIN, WITNESS, WITNESS_KEY, Log, request


def config(tmp_path: Path) -> WitnessConfig:
    return WitnessConfig(WITNESS, WITNESS_KEY, tmp_path / "witness.db", {ORIGIN: [LOG_VKEY]})


def test_a_cosignature_is_answered_as_note_signature_lines(tmp_path: Path) -> None:
    log = Log(12)
    client = create_witness_app(config(tmp_path)).test_client()
    response = client.post("/add-checkpoint", data=request(0, [], log.note(12)))
    assert response.status_code == 200
    line = response.get_data(as_text=True)
    assert line.startswith(f"\u2014 {WITNESS} ")
    assert line.endswith("\n")
    key = cosignature.parse_cosigner_key(client.get("/").get_json()["cosigner_key"])
    assert WITNESS in cosignature.verify_cosignatures(log.note(12) + line, [key])


def test_a_restarted_witness_keeps_its_state_and_refuses_a_rollback(tmp_path: Path) -> None:
    log = Log(30)
    first = create_witness_app(config(tmp_path)).test_client()
    assert first.post("/add-checkpoint", data=request(0, [], log.note(20))).status_code == 200
    again = create_witness_app(config(tmp_path)).test_client()  # a new process, same file
    stale = again.post("/add-checkpoint", data=request(0, [], log.note(25)))
    assert stale.status_code == 409
    assert stale.headers["Content-Type"] == "text/x.tlog.size"
    assert stale.get_data() == b"20\n"
    moved = again.post("/add-checkpoint", data=request(20, log.proof(20, 30), log.note(30)))
    assert moved.status_code == 200
    seen = WitnessState(tmp_path / "witness.db").seen(ORIGIN)
    assert seen is not None
    assert seen.size == 30


def test_a_fork_is_refused_and_the_state_is_left_alone(tmp_path: Path) -> None:
    honest, forked = Log(40), Log(40, fork_at=3)
    client = create_witness_app(config(tmp_path)).test_client()
    assert client.post("/add-checkpoint", data=request(0, [], honest.note(10))).status_code == 200
    refused = client.post("/add-checkpoint", data=request(10, forked.proof(10, 40),
                                                          forked.note(40)))
    assert refused.status_code == 422
    seen = WitnessState(tmp_path / "witness.db").seen(ORIGIN)
    assert seen is not None
    assert seen.size == 10


def test_unknown_logs_and_bad_signatures_are_refused(tmp_path: Path) -> None:
    client = create_witness_app(config(tmp_path)).test_client()
    log = Log(3)
    assert client.post("/add-checkpoint",
                       data=request(0, [], log.note(3, origin="x.example/log"))).status_code == 404
    impostor = log.note(3, key=cp.generate_signing_key())
    assert client.post("/add-checkpoint", data=request(0, [], impostor)).status_code == 403
    assert client.post("/add-checkpoint", data=b"garbage").status_code == 400
    assert client.post("/add-checkpoint", data=b"x" * 20_000).status_code == 413


def test_followed_logs_are_read_with_or_without_an_origin() -> None:
    vkey = str(LOG_VKEY)
    assert parse_logs([vkey]) == {ORIGIN: [LOG_VKEY]}
    assert parse_logs([f"other.example/log={vkey}"]) == {"other.example/log": [LOG_VKEY]}
    assert cp.parse_verifier_key(cp.verifier_key(ORIGIN, LOG_KEY.public_key())) == LOG_VKEY
