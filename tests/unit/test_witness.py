"""tlog-cosignature v1 and the witness's add-checkpoint decision, without I/O."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import checkpoint as cp
from ledger import cosignature, witness
from tests.support.witnessing import LOG_VKEY, LOGS, WITNESS, WITNESS_KEY, Log, request, seen_of


# --- cosignatures ---------------------------------------------------------------------
def test_a_cosignature_signs_the_header_the_time_and_the_note_body() -> None:
    note = Log(5).note(5)
    body = note[: note.find("\n\n") + 1]
    line = cosignature.cosign(body, WITNESS, WITNESS_KEY, 1_679_315_147)
    name, blob64 = line.removeprefix("\u2014 ").split(" ")
    blob = base64.b64decode(blob64)
    raw = cp.public_key_bytes(WITNESS_KEY)
    assert name == WITNESS
    assert blob[:4] == hashlib.sha256(WITNESS.encode() + b"\n\x04" + raw).digest()[:4]
    assert int.from_bytes(blob[4:12], "big") == 1_679_315_147
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    WITNESS_KEY.public_key().verify(blob[12:], message)  # raises if not


def test_a_cosigned_note_still_opens_with_the_log_key_and_yields_the_cosignature() -> None:
    note = Log(5).note(5)
    body = note[: note.find("\n\n") + 1]
    cosigned = note + cosignature.cosign(body, WITNESS, WITNESS_KEY, 100)
    assert cp.open_checkpoint(cosigned, LOG_VKEY).size == 5
    key = cosignature.parse_cosigner_key(cosignature.cosigner_key(WITNESS, WITNESS_KEY))
    found = cosignature.verify_cosignatures(cosigned, [key])
    assert list(found) == [WITNESS]
    assert found[WITNESS].timestamp == 100


def test_a_cosignature_over_another_body_or_from_the_future_does_not_count() -> None:
    log = Log(6)
    key = cosignature.parse_cosigner_key(cosignature.cosigner_key(WITNESS, WITNESS_KEY))
    other = log.note(5)
    line = cosignature.cosign(other[: other.find("\n\n") + 1], WITNESS, WITNESS_KEY, 100)
    assert cosignature.verify_cosignatures(log.note(6) + line, [key]) == {}
    note = log.note(6)
    late = cosignature.cosign(note[: note.find("\n\n") + 1], WITNESS, WITNESS_KEY, 10_000)
    assert cosignature.verify_cosignatures(note + late, [key], now=9_999) == {}
    assert WITNESS in cosignature.verify_cosignatures(note + late, [key], now=10_000)


def test_unreadable_signature_lines_beside_a_cosignature_are_skipped() -> None:
    note = Log(5).note(5)
    body = note[: note.find("\n\n") + 1]
    good = cosignature.cosign(body, WITNESS, WITNESS_KEY, 100)
    junk = f"\u2014 {WITNESS} !!!\n\u2014 {WITNESS} \n\u2014 bad+name {good.split()[-1]}\n"
    key = cosignature.parse_cosigner_key(cosignature.cosigner_key(WITNESS, WITNESS_KEY))
    assert list(cosignature.verify_cosignatures(note + junk + good, [key])) == [WITNESS]


def _witness_key_with(part: int, value: str) -> str:
    parts = cosignature.cosigner_key(WITNESS, WITNESS_KEY).split("+", 2)
    parts[part] = value
    return "+".join(parts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nobody", "malformed witness key"),
        (_witness_key_with(1, "zzzzzzzz"), "malformed witness key"),
        (_witness_key_with(2, "!!!"), "malformed witness key"),
        (_witness_key_with(1, "00000000"), "witness key id does not match its name and key"),
        (_witness_key_with(2, base64.b64encode(b"\x04" + bytes(31)).decode()), "type 0x04"),
    ],
    ids=["no parts", "id not hex", "key not base64", "id not the key's", "key too short"],
)
def test_a_malformed_witness_key_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(cp.CheckpointError, match=message):
        cosignature.parse_cosigner_key(text)


def test_a_witness_key_may_come_with_surrounding_whitespace() -> None:
    written = cosignature.cosigner_key(WITNESS, WITNESS_KEY)
    assert cosignature.parse_cosigner_key(f"  {written}\n").name == WITNESS


def test_a_log_key_is_not_a_witness_key_and_ids_differ_by_type() -> None:
    with pytest.raises(cp.CheckpointError):
        cosignature.parse_cosigner_key(str(LOG_VKEY))
    witness_key = cosignature.cosigner_key(WITNESS, WITNESS_KEY)
    with pytest.raises(cp.CheckpointError):
        cp.parse_verifier_key(witness_key)
    assert cosignature.cosigner_key_id(WITNESS, WITNESS_KEY.public_key()) != cp.key_id(
        WITNESS, WITNESS_KEY.public_key()
    )


# --- add-checkpoint ----------------------------------------------------------------------
def test_a_first_checkpoint_with_old_size_zero_is_accepted() -> None:
    log = Log(9)
    outcome = witness.decide(request(0, [], log.note(9)), LOGS, None)
    assert isinstance(outcome, witness.Accepted)
    assert outcome.seen == seen_of(log, 9)
    assert outcome.body == log.note(9).split("\n\n")[0] + "\n"


@settings(max_examples=60, deadline=None)
@given(old=st.integers(1, 80), grow=st.integers(0, 80))
def test_a_consistent_larger_checkpoint_is_accepted(old: int, grow: int) -> None:
    log = Log(old + grow)
    new = old + grow
    outcome = witness.decide(request(old, log.proof(old, new), log.note(new)), LOGS,
                             seen_of(log, old))
    assert isinstance(outcome, witness.Accepted)
    assert outcome.seen.size == new


@settings(max_examples=60, deadline=None)
@given(old=st.integers(1, 80), grow=st.integers(1, 80), data=st.data())
def test_a_forked_log_signed_with_the_same_key_is_refused_422(
    old: int, grow: int, data: st.DataObject
) -> None:
    honest = Log(old + grow)
    fork_at = data.draw(st.integers(0, old - 1))
    forked = Log(old + grow, fork_at=fork_at)
    new = old + grow
    outcome = witness.decide(
        request(old, forked.proof(old, new), forked.note(new)), LOGS, seen_of(honest, old)
    )
    assert isinstance(outcome, witness.Refusal)
    assert outcome.status == 422


def test_a_stale_old_size_is_409_with_the_witness_size() -> None:
    log = Log(20)
    for old in (0, 5, 12):
        outcome = witness.decide(request(old, log.proof(old, 20), log.note(20)), LOGS,
                                 seen_of(log, 10))
        assert outcome == witness.Refusal(409, "10\n", "text/x.tlog.size")
    never = witness.decide(request(3, log.proof(3, 20), log.note(20)), LOGS, None)
    assert never == witness.Refusal(409, "0\n", "text/x.tlog.size")


def test_the_same_size_is_accepted_with_the_same_root_and_409_with_another() -> None:
    log = Log(10)
    again = witness.decide(request(10, [], log.note(10)), LOGS, seen_of(log, 10))
    assert isinstance(again, witness.Accepted)
    fork = Log(10, fork_at=4)
    other = witness.decide(request(10, [], fork.note(10)), LOGS, seen_of(log, 10))
    assert isinstance(other, witness.Refusal)
    assert other.status == 409


def test_unknown_logs_and_untrusted_signatures_are_404_and_403() -> None:
    log = Log(4)
    unknown = witness.decide(request(0, [], log.note(4, origin="other.example/log")), LOGS, None)
    assert isinstance(unknown, witness.Refusal)
    assert unknown.status == 404
    impostor = witness.decide(request(0, [], log.note(4, key=cp.generate_signing_key())), LOGS,
                              None)
    assert isinstance(impostor, witness.Refusal)
    assert impostor.status == 403


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"old 1\n", b"old 01\n\nx\n", b"old -1\n\nx\n", b"new 0\n\nx\n",
        b"old 0\nnot-base64\n\nx\n", b"old 0\n" + b"AAAA\n" + b"\nx\n", b"\xff\n\n",
    ],
)
def test_a_malformed_request_is_400(raw: bytes) -> None:
    outcome = witness.decide(raw, LOGS, None)
    assert isinstance(outcome, witness.Refusal)
    assert outcome.status == 400


def test_an_old_size_past_the_checkpoint_or_a_proof_from_zero_is_400() -> None:
    log = Log(8)
    past = witness.decide(request(9, [], log.note(8)), LOGS, seen_of(Log(9), 9))
    assert isinstance(past, witness.Refusal)
    assert past.status == 400
    stray = witness.decide(request(0, [bytes(32)], log.note(8)), LOGS, None)
    assert isinstance(stray, witness.Refusal)
    assert stray.status == 400


def test_more_than_63_proof_lines_are_refused() -> None:
    log = Log(8)
    outcome = witness.decide(request(4, [bytes(32)] * 64, log.note(8)), LOGS, seen_of(log, 4))
    assert isinstance(outcome, witness.Refusal)
    assert outcome.status == 400
