"""``audit`` names the first position where the stored log disagrees with itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from api import cli as cli_module
from ledger import checkpoint as cp
from ledger import hashing
from ledger.audit import audit
from ledger.envelope import RecordedEvent
from ledger.log import LogService
from ledger.store import EventStore, open_store
from tests.support.ledger_log import BACKENDS, grow, new_store, raw, story, unguard

ORIGIN = "ledger.example.org/log"
SIZE = 40
FIRST_NODE = "SELECT hash FROM merkle_nodes WHERE level = 1 AND idx = 0"


@dataclass
class Log:
    """A log of SIZE events with a checkpoint at its head, and a raw handle on its database."""

    store: EventStore
    url: str
    events: list[RecordedEvent]
    service: LogService

    def audit(self, **options: object) -> str:
        report = audit(self.store, self.service.verifier_key, origin=ORIGIN, **options)  # type: ignore[arg-type]
        return "OK" if report.ok else str(report.failure)

    def sql(self, *statements: str) -> None:
        unguard(self.url)
        raw(self.url, *statements)


@pytest.fixture(params=BACKENDS)
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Log]:
    with new_store(request.param, tmp_path) as (store, url):
        events = grow([store], SIZE, story(4))
        service = LogService(store, cp.generate_signing_key(), ORIGIN)
        service.issue()
        yield Log(store, url, events, service)


def _leaf(event: RecordedEvent, **changes: object) -> str:
    fields = {name: getattr(event, name) for name in hashing.LEAF_FIELDS} | changes
    return hashing.leaf_hash(hashing.leaf_input(**fields)).hex()  # type: ignore[arg-type]


def test_an_untouched_log_passes_with_a_report(log: Log) -> None:
    report = audit(log.store, log.service.verifier_key, origin=ORIGIN, batch=7)
    assert report.ok, report.summary()
    assert (report.events, report.nodes) == (SIZE, SIZE - bin(SIZE).count("1"))
    assert report.signature_checked
    assert "OK" in report.summary()
    assert "events/s" in report.summary()


def test_a_tiny_claim_cache_reads_older_claim_heads_back_and_still_passes(log: Log) -> None:
    assert log.audit(claim_cache=1, batch=3) == "OK"


def test_a_redaction_keeps_the_audit_passing_and_is_reported(log: Log) -> None:
    victim = log.events[9]
    log.store.redact(victim.id, actor="legal@example.org", reason="Court order.")
    report = audit(log.store, log.service.verifier_key)
    assert report.ok
    assert report.redacted == [victim.position]


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("UPDATE events SET actor = 'mallory' WHERE position = 5", "position 5: leaf"),
        ("UPDATE payloads SET data = '{\"text\":\"edited\"}' WHERE position = 5",
         "position 5: payload"),
        ("DELETE FROM payloads WHERE position = 5", "position 5: payload"),
        ("DELETE FROM payloads WHERE position = 5; DELETE FROM events WHERE position = 5",
         "position 5: position"),
        ("UPDATE events SET position = -5 WHERE position = 5;"
         " UPDATE events SET position = 5 WHERE position = 6;"
         " UPDATE events SET position = 6 WHERE position = -5;"
         " UPDATE payloads SET position = -5 WHERE position = 5;"
         " UPDATE payloads SET position = 5 WHERE position = 6;"
         " UPDATE payloads SET position = 6 WHERE position = -5", "position 5: leaf"),
        (f"DELETE FROM payloads WHERE position = {SIZE};"
         f" DELETE FROM events WHERE position = {SIZE}",
         f"position {SIZE}: position"),
        (f"UPDATE merkle_nodes SET hash = ({FIRST_NODE})"
         " WHERE level = 2 AND idx = 3", "position 16: node"),
        ("DELETE FROM merkle_nodes WHERE level = 1 AND idx = 9", "position 20: node"),
        (f"UPDATE checkpoints SET root = ({FIRST_NODE})",
         "the log: checkpoint"),
    ],
    ids=["edit-envelope", "edit-payload", "drop-payload", "delete-row", "reorder", "delete-last",
         "edit-node", "delete-node", "edit-checkpoint"],
)
def test_tampering_behind_the_stores_back_is_named(log: Log, tamper: str, expected: str) -> None:
    log.sql(*tamper.split("; "))
    assert log.audit().startswith(expected)


def test_a_chain_link_rewritten_with_a_matching_leaf_hash_is_named(log: Log) -> None:
    victim = next(e for e in log.events if e.version > 1)
    forged = "11" * 32
    leaf = _leaf(victim, prev_hash=forged)
    log.sql(f"UPDATE events SET prev_hash = '{forged}', leaf_hash = '{leaf}'"
            f" WHERE position = {victim.position}")
    assert log.audit().startswith(f"position {victim.position}: chain")


def test_recorded_at_moved_back_with_a_matching_leaf_hash_is_named(log: Log) -> None:
    victim = log.events[20]
    early = "2001-01-01T00:00:00.000000Z"
    log.sql(f"UPDATE events SET recorded_at = '{early}',"
            f" leaf_hash = '{_leaf(victim, recorded_at=early)}' WHERE position = {victim.position}")
    assert log.audit().startswith(f"position {victim.position}: recorded_at")


def test_a_consistent_rewrite_with_rebuilt_nodes_is_caught_by_the_signed_root(log: Log) -> None:
    victim = log.events[-1]
    data = '{"text":"A quieter version."}'
    payload = hashing.payload_sha256({"text": "A quieter version."})
    leaf = _leaf(victim, payload_sha256=payload)
    log.sql(f"UPDATE payloads SET data = '{data}' WHERE position = {victim.position}",
            f"UPDATE events SET payload_sha256 = '{payload}', leaf_hash = '{leaf}'"
            f" WHERE position = {victim.position}", "DELETE FROM merkle_nodes")
    fresh = open_store(log.url)
    try:
        fresh.backfill_nodes()
        report = audit(fresh, log.service.verifier_key)
    finally:
        fresh.close()
    assert str(report.failure).startswith("the log: checkpoint check failed")
    assert "rewritten" in str(report.failure)


def test_a_checkpoint_signed_by_another_key_is_named(log: Log) -> None:
    other = cp.verifier_key(ORIGIN, cp.generate_signing_key().public_key())
    report = audit(log.store, other)
    assert str(report.failure).startswith("the log: checkpoint check failed")


# --- the commands ------------------------------------------------------------------------
@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    cli_module._register()
    return CliRunner(env={
        "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
        "LEDGER_SIGNING_KEY": str(tmp_path / "signing.key"),
        "LEDGER_LOG_ORIGIN": ORIGIN,
        "LEDGER_ACTOR": "cli:legal",
    })


def test_init_audit_checkpoint_and_redact_commands(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first = runner.invoke(cli_module.cli, ["init"])
    assert first.exit_code == 0, first.output
    assert "created the signing key" in first.output
    assert f"{ORIGIN}+" in first.output
    store = open_store(url)
    try:
        events = grow([store], 25, story(3))
    finally:
        store.close()
    issued = runner.invoke(cli_module.cli, ["checkpoint"])
    assert issued.exit_code == 0
    assert issued.output.startswith(f"{ORIGIN}\n25\n")
    redacted = runner.invoke(cli_module.cli, ["redact", events[3].id, "--reason", "Court order."])
    assert redacted.exit_code == 0, redacted.output
    again = runner.invoke(cli_module.cli, ["init"])
    assert again.exit_code == 0
    assert "created the signing key" not in again.output
    passed = runner.invoke(cli_module.cli, ["audit"])
    assert passed.exit_code == 0, passed.output + passed.stderr
    assert "signature verified" in passed.output
    assert passed.output.rstrip().endswith("OK")
    assert "1 redacted payloads" in passed.output

    unguard(url)
    raw(url, "UPDATE events SET occurred_at = '2014-09-16T00:00:00.000000Z' WHERE position = 12")
    failed = runner.invoke(cli_module.cli, ["audit", "--quiet"])
    assert failed.exit_code == 1
    assert "audit failed at position 12: leaf check failed" in failed.stderr


def test_init_builds_the_tree_of_a_ledger_from_before_it(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert runner.invoke(cli_module.cli, ["init"]).exit_code == 0
    store = open_store(url)
    try:
        grow([store], 30, story(2))
    finally:
        store.close()
    unguard(url)
    raw(url, "DELETE FROM merkle_nodes", "DELETE FROM checkpoints")
    upgraded = runner.invoke(cli_module.cli, ["init"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "built the tree nodes of 30 events" in upgraded.output
    assert "building tree nodes" in upgraded.stderr
    assert runner.invoke(cli_module.cli, ["audit", "--quiet"]).exit_code == 0
    again = runner.invoke(cli_module.cli, ["init"])
    assert "built the tree nodes" not in again.output
    assert "building tree nodes" not in again.stderr
