"""``claimledger verify`` against a real HTTP server: tampering named, rewrites caught."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from werkzeug.serving import BaseWSGIServer, make_server

from api import cli as cli_module
from api import create_app
from ledger import checkpoint as cp
from ledger import hashing
from ledger.envelope import RecordedEvent
from ledger.identity import key_label
from ledger.log import LogService
from ledger.store import EventStore, open_store
from tests.support.ledger_log import BACKENDS, grow, new_store, note, raw, story, unguard

ORIGIN = "ledger.example.org/log"


@dataclass
class Served:
    """A log served over HTTP by the real app, and what the auditor pinned."""

    store: EventStore
    url: str
    base: str
    key_path: Path
    verifier_key: str
    events: list[RecordedEvent]
    claims: list[str]
    state: Path

    def verify(self, *args: str) -> Result:
        cli_module._register()
        return CliRunner().invoke(cli_module.cli, [
            "verify", "--url", self.base, "--key", self.verifier_key, "--state", str(self.state),
            *args,
        ])

    def sql(self, *statements: str) -> None:
        unguard(self.url)
        raw(self.url, *statements)

    def claim_of(self, position: int) -> str:
        return self.events[position - 1].claim_id


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    with new_store(request.param, tmp_path) as (store, url):
        claims = story(3)
        events = grow([store], 30, claims)
        key_path = tmp_path / "signing.key"
        key = cp.load_or_create_signing_key(key_path)
        LogService(store, key, ORIGIN).issue()
        app = create_app({"DATABASE_URL": url, "SIGNING_KEY": key_path, "LOG_ORIGIN": ORIGIN,
                          "PUBLIC_READ": True, "RATE_LIMIT": None, "CHECKPOINT_INTERVAL": 0})
        server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield Served(store, url, f"http://127.0.0.1:{server.server_port}", key_path,
                         cp.verifier_key(ORIGIN, key.public_key()), events, claims,
                         tmp_path / "auditor.note")
        finally:
            server.shutdown()
            thread.join(timeout=10)


def test_a_clean_log_verifies_and_the_next_run_proves_it_grew_consistently(served: Served) -> None:
    first = served.verify("--claim", served.claims[0])
    assert first.exit_code == 0, first.output + first.stderr
    assert "signature verified" in first.output
    events = len(served.store.read_claim(served.claims[0]))
    counts = f"checked: {events} events, {events} proofs, 1 checkpoints"
    assert first.output.splitlines()[-1] == counts
    assert served.state.read_text().startswith(f"{ORIGIN}\n30\n")
    grow([served.store], 6, served.claims, seed=9)
    LogService.open(served.store, served.key_path, ORIGIN).issue()
    second = served.verify()
    assert second.exit_code == 0, second.output + second.stderr
    assert "consistency: the saved checkpoint (size 30) is a prefix of size 36" in second.output
    assert served.state.read_text().startswith(f"{ORIGIN}\n36\n")


def test_an_edited_row_is_named_by_its_position(served: Served) -> None:
    served.sql("UPDATE events SET actor = 'mallory' WHERE position = 11")
    result = served.verify("--claim", served.claim_of(11))
    assert result.exit_code == 1
    assert "verification failed at position 11: leaf check failed" in result.stderr
    assert not served.state.exists()  # nothing is saved when a check fails


def test_an_edited_payload_is_named_by_its_position(served: Served) -> None:
    served.sql("UPDATE payloads SET data = '{\"text\":\"Edited.\"}' WHERE position = 17")
    result = served.verify("--claim", served.claim_of(17))
    assert "verification failed at position 17: payload check failed" in result.stderr


def test_a_deleted_row_is_named_by_the_event_that_no_longer_links(served: Served) -> None:
    claim = served.claim_of(12)
    later = [e for e in served.events if e.claim_id == claim and e.position > 12]
    assert later, "the sample log should have a later event in that claim"
    served.sql("DELETE FROM payloads WHERE position = 12", "DELETE FROM events WHERE position = 12")
    result = served.verify("--claim", claim)
    assert result.exit_code == 1
    failed = f"verification failed at position {later[0].position}: version check failed"
    assert failed in result.stderr


def test_reordered_rows_are_named(served: Served) -> None:
    claim = served.claim_of(20)
    mine = [e.position for e in served.events if e.claim_id == claim]
    a, b = mine[-2], mine[-1]
    served.sql(*[f"UPDATE {t} SET position = {p} WHERE position = {q}"
                 for t in ("events", "payloads") for p, q in ((-1, a), (a, b), (b, -1))])
    result = served.verify("--claim", claim)
    assert result.exit_code == 1
    assert f"verification failed at position {a}: " in result.stderr


def test_a_history_rewritten_and_re_signed_with_the_same_key_fails_consistency(
    served: Served,
) -> None:
    assert served.verify().exit_code == 0  # the auditor saves the checkpoint of size 30
    victim = max(served.events, key=lambda e: (e.claim_id == served.claims[1], e.position))
    payload = hashing.payload_sha256({"text": "A quieter version."})
    fields = {n: getattr(victim, n) for n in hashing.LEAF_FIELDS} | {"payload_sha256": payload}
    leaf = hashing.leaf_hash(hashing.leaf_input(**fields)).hex()
    served.sql(
        f"UPDATE payloads SET data = '{{\"text\":\"A quieter version.\"}}'"
        f" WHERE position = {victim.position}",
        f"UPDATE events SET payload_sha256 = '{payload}', leaf_hash = '{leaf}'"
        f" WHERE position = {victim.position}",
        "DELETE FROM merkle_nodes", "DELETE FROM checkpoints",
    )
    operator = open_store(served.url)
    try:
        operator.backfill_nodes()
        grow([operator], 4, served.claims, seed=11)
        LogService.open(operator, served.key_path, ORIGIN).issue()  # re-signed, same key
    finally:
        operator.close()

    alone = CliRunner().invoke(cli_module.cli, ["verify", "--url", served.base, "--key",
                                                served.verifier_key, "--claim", victim.claim_id])
    assert alone.exit_code == 0, alone.stderr  # without saved state the rewrite is invisible
    result = served.verify("--claim", victim.claim_id)
    assert result.exit_code == 1
    assert "verification failed at log: consistency check failed" in result.stderr
    assert served.state.read_text().startswith(f"{ORIGIN}\n30\n")  # the old state is kept


def test_a_wrong_pinned_key_or_an_unreachable_url_is_one_clear_line(served: Served) -> None:
    other = cp.verifier_key(ORIGIN, cp.generate_signing_key().public_key())
    cli_module._register()
    wrong = CliRunner().invoke(cli_module.cli, ["verify", "--url", served.base, "--key", other])
    assert wrong.exit_code == 1
    assert "checkpoint check failed" in wrong.stderr
    bad = CliRunner().invoke(cli_module.cli, ["verify", "--url", served.base, "--key", "nonsense"])
    assert bad.exit_code == 2
    assert "--key" in bad.stderr
    gone = CliRunner().invoke(cli_module.cli, ["verify", "--url", "http://127.0.0.1:1",
                                               "--key", served.verifier_key])
    assert gone.exit_code == 1
    assert "cannot reach" in gone.stderr


def _rotate(served: Served) -> str:
    """``claimledger rotate-key`` on the served log; the new verifier key."""
    env = {"LEDGER_DATABASE_URL": served.url, "LEDGER_DATA_DIR": str(served.key_path.parent),
           "LEDGER_SIGNING_KEY": str(served.key_path), "LEDGER_LOG_ORIGIN": ORIGIN}
    cli_module._register()
    rotated = CliRunner(env=env).invoke(cli_module.cli, ["rotate-key"])
    assert rotated.exit_code == 0, rotated.output + rotated.stderr
    return cp.verifier_key(ORIGIN, cp.load_signing_key(served.key_path).public_key())


def test_after_a_recorded_key_rotation_auditors_of_either_key_follow_it(
    served: Served, tmp_path: Path
) -> None:
    assert served.verify().exit_code == 0  # saved: size 30, signed by the old key
    old_pin = served.verifier_key
    new_pin = _rotate(served)
    app = create_app({"DATABASE_URL": served.url, "SIGNING_KEY": served.key_path,
                      "LOG_ORIGIN": ORIGIN, "PUBLIC_READ": True, "RATE_LIMIT": None,
                      "CHECKPOINT_INTERVAL": 0})
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"

        def verify(pin: str, *args: str) -> Result:
            return CliRunner().invoke(cli_module.cli, [
                "verify", "--url", url, "--key", pin, "--state", str(served.state), *args])

        same_size = verify(new_pin, "--claim", served.claims[0])
        assert same_size.exit_code == 0, same_size.stderr  # re-signed until the log grows
        assert "saved checkpoint (size 30) is a prefix of size 30" in same_size.output
        grow([served.store], 3, served.claims, seed=12)
        followed = verify(old_pin, "--all")  # still pinning the old key
        assert followed.exit_code == 0, followed.output + followed.stderr
        assert ("key: followed 1 recorded rotation (at size 30) from the pinned"
                f" {key_label(old_pin)} to {key_label(new_pin)}") in followed.output
        assert "saved checkpoint (size 30) is a prefix of size 33" in followed.output
        assert verify(new_pin).exit_code == 0
    finally:
        server.shutdown()
        thread.join(timeout=10)
    # the server started before the rotation still holds the old key: refused either way
    stale = CliRunner().invoke(cli_module.cli, ["verify", "--url", served.base, "--key", new_pin])
    assert stale.exit_code == 1


def test_an_unrecorded_key_change_is_refused_even_with_rotations_recorded(
    served: Served, tmp_path: Path
) -> None:
    old_pin = served.verifier_key
    _rotate(served)
    intruder = tmp_path / "intruder.key"
    cp.load_or_create_signing_key(intruder)
    app = create_app({"DATABASE_URL": served.url, "SIGNING_KEY": intruder, "LOG_ORIGIN": ORIGIN,
                      "PUBLIC_READ": True, "RATE_LIMIT": None, "CHECKPOINT_INTERVAL": 0})
    client = app.test_client()
    note = client.get("/v1/log/checkpoint").get_data(as_text=True)  # served re-signed
    assert client.get("/v1/log/key").get_json()["rotations"][0]["old_key"] == old_pin
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        refused = CliRunner().invoke(cli_module.cli, [
            "verify", "--url", f"http://127.0.0.1:{server.server_port}", "--key", old_pin])
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert note.startswith(ORIGIN)
    assert refused.exit_code == 1
    assert "checkpoint check failed" in refused.stderr


def test_a_claim_longer_than_a_page_is_verified_page_by_page(served: Served) -> None:
    claim = served.claims[0]
    served.store.append([note(claim, f"page note {i}") for i in range(1_050)], actor="desk")
    LogService.open(served.store, served.key_path, ORIGIN).issue()
    total = len(served.store.read_claim(claim))
    result = served.verify("--claim", claim)
    assert result.exit_code == 0, result.output + result.stderr
    assert f"claim {claim}: {total} events" in result.output
    second_page = served.store.read_claim(claim, after=1_000, limit=1)[0]
    served.sql(f"UPDATE events SET actor = 'mallory' WHERE position = {second_page.position}")
    tampered = served.verify("--claim", claim)
    assert tampered.exit_code == 1
    assert f"at position {second_page.position}: leaf check failed" in tampered.stderr


def test_a_claim_id_prefix_is_refused_before_any_request_and_says_why() -> None:
    """Other commands take id prefixes; the verifier reads only the API, which takes none."""
    cli_module._register()
    key = cp.verifier_key(ORIGIN, cp.generate_signing_key().public_key())
    result = CliRunner().invoke(cli_module.cli, ["verify", "--url", "http://127.0.0.1:1",
                                                 "--key", key, "--claim", "95d3"])
    assert result.exit_code == 2
    assert "'95d3' is not a whole claim id" in result.stderr
    assert "--claim" in result.stderr
    assert "cannot reach" not in result.stderr  # refused before it asked anything


def test_an_unknown_claim_after_a_replay_still_shows_what_the_replay_proved(
    served: Served,
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    result = served.verify("--all", "--claim", unknown)
    assert result.exit_code == 1
    assert "replay: 30 events (payloads, leaves, chain links) and the root at size 30 verified" in (
        result.stdout
    )
    assert unknown in result.stderr
