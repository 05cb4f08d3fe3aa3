"""Power lost at every sync point of the SQLite ledger's writes: nothing acknowledged is lost.

Each test crashes one operation at each of its sync points (``crashing.crash_everywhere``)
and checks the rebooted ledger. CI drops every unsynced write once per sync point;
``scripts/test --long`` also tears the last write and keeps random unsynced pages.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from ledger import checkpoint as cp
from ledger.envelope import NewEvent, RecordedEvent
from ledger.errors import StoreUnavailable
from ledger.events import validate_payload
from ledger.importing import plan_import
from ledger.store.sqlite import SQLiteEventStore
from tests.powerloss.crashing import (
    ACTOR,
    Figures,
    Ledger,
    Operation,
    Run,
    Scenario,
    crash_everywhere,
    prepare_image,
)
from tests.powerloss.mount import PowerLossMount
from tests.support.long import LONG

#: CI drops every unsynced write; the long run also tears and keeps random pages, 3 seeds
MODES = ("drop", "torn", "random:1", "random:2", "random:3") if LONG else ("drop",)
#: pytest-timeout's limit per test (the suite's default is 300 s)
TIMEOUT = 1800 if LONG else 300


def recorded(claim_id: str, n: int = 0) -> NewEvent:
    """A ``ClaimRecorded`` for ``claim_id``."""
    data = validate_payload("ClaimRecorded", {
        "statement": f"A claim written as the power went ({n}).",
        "claimant": {"name": "Power Loss"},
        "appearance": {"outlet": "tests/powerloss"},
    })
    return NewEvent(claim_id, "ClaimRecorded", data)


def note(claim_id: str, n: int) -> NewEvent:
    """A ``NoteAdded`` on ``claim_id``."""
    return NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": f"note {n}"}))


def import_lines(count: int) -> list[str]:
    """``count`` NDJSON import lines: claims of one ``ClaimRecorded`` and nine notes each."""
    lines = []
    for n in range(count):
        ref = f"c{n // 10}"
        if n % 10 == 0:
            line = {"claim_ref": ref, "type": "ClaimRecorded", "data": {
                "statement": f"Imported claim {n // 10}.", "claimant": {"name": "Importer"},
                "appearance": {"outlet": "tests/powerloss"}}}
        else:
            line = {"claim_ref": ref, "type": "NoteAdded", "data": {"text": f"line {n}"}}
        lines.append(json.dumps(line) + "\n")
    return lines


def a_small_ledger(ledger: Ledger, store: SQLiteEventStore) -> None:
    """An initialised ledger with a key, three claims and a checkpoint."""
    store.init()
    cp.save_signing_key(cp.generate_signing_key(), ledger.key)
    for n in range(3):
        store.append([recorded(str(uuid.uuid4()), n)], actor=ACTOR)
    ledger.log(store).issue()


def an_empty_directory_with_a_key(ledger: Ledger, store: SQLiteEventStore) -> None:
    """No database yet; only the signing key (as an operator restoring would have)."""
    cp.save_signing_key(cp.generate_signing_key(), ledger.key)


def an_empty_directory(ledger: Ledger, store: SQLiteEventStore) -> None:
    """Nothing yet: ``claimledger init`` has not run."""


def ledger_init(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
    """``claimledger init``: the schema, a new signing key, the first checkpoint."""
    store.init()
    cp.load_or_create_signing_key(ledger.key)
    log = ledger.log(store)
    run.key = log.verifier_key
    run.checkpoints.append(log.issue().note)


def twenty_appends_and_wal_checkpoints(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
    """20 single appends, then a WAL checkpoint (TRUNCATE), then the last close's own."""
    for n in range(20):
        run.acknowledged += store.append([recorded(str(uuid.uuid4()), n)], actor=ACTOR)
    conn = sqlite3.connect(ledger.db)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        conn.close()
    for n in range(3):
        run.acknowledged += store.append([recorded(str(uuid.uuid4()), n)], actor=ACTOR)
    store.close()  # the last connection: SQLite checkpoints and removes the WAL


def restore_of(events: list[RecordedEvent]) -> Operation:
    """``claimledger restore`` of ``events`` into the empty ledger."""

    def restore(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
        store.init()
        assert store.restore(iter(events)) == len(events)
        run.acknowledged += events

    return restore


def exported_log(directory: Path, count: int) -> list[RecordedEvent]:
    """A log of ``count`` events built on an ordinary disk, as an export gives it back."""
    store = SQLiteEventStore(directory / "source.db")
    try:
        store.init()
        plan = plan_import(import_lines(count), metadata={"source": "cli-import"})
        store.append(plan.events, actor=ACTOR)
        return list(store.iter_all())
    finally:
        store.close()


def single_append(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
    """One event, acknowledged when ``append`` returns."""
    run.acknowledged += store.append([recorded(str(uuid.uuid4()))], actor=ACTOR)


def hundred_event_append(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
    """100 events over 10 claims in one transaction."""
    events = []
    for c in range(10):
        claim = str(uuid.uuid4())
        events += [recorded(claim, c)] + [note(claim, n) for n in range(9)]
    run.acknowledged += store.append(events, actor=ACTOR)


def thousand_line_import(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
    """``claimledger import`` of 1,000 lines: one all-or-nothing append."""
    plan = plan_import(import_lines(1000), metadata={"source": "cli-import"})
    run.acknowledged += store.append(plan.events, actor=ACTOR)


def checkpoint_signing(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
    """Two appends, each followed by a signed checkpoint handed to a client."""
    log = ledger.log(store)
    for n in range(2):
        run.acknowledged += store.append([recorded(str(uuid.uuid4()), n)], actor=ACTOR)
        run.checkpoints.append(log.issue().note)
    run.checkpoints.append(log.history(run.acknowledged[0].claim_id)["checkpoint"])


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize(
    ("scenario"),
    [
        pytest.param(Scenario("a single append", a_small_ledger, single_append,
                              lambda b: {b, b + 1}), id="single-append"),
        pytest.param(Scenario("a 100-event append", a_small_ledger, hundred_event_append,
                              lambda b: {b, b + 100}), id="hundred-event-append"),
        pytest.param(Scenario("an import of 1,000 lines", a_small_ledger, thousand_line_import,
                              lambda b: {b, b + 1000}), id="thousand-line-import"),
        pytest.param(Scenario("a checkpoint signing", a_small_ledger, checkpoint_signing,
                              lambda b: {b, b + 1, b + 2}), id="checkpoint-signing"),
        pytest.param(Scenario("claimledger init (a new key, the first checkpoint)",
                              an_empty_directory, ledger_init, lambda b: {0}), id="init"),
        pytest.param(Scenario("23 appends around a WAL checkpoint and the last close's",
                              a_small_ledger, twenty_appends_and_wal_checkpoints,
                              lambda b: set(range(b, b + 24))), id="wal-checkpoint"),
        pytest.param(None, id="restore"),
    ],
)
def test_power_lost_at_every_sync_point_loses_no_acknowledged_write_and_forks_no_checkpoint(
    powerloss: PowerLossMount, tmp_path: Path, scenario: Scenario | None
) -> None:
    if scenario is None:  # restore: of a log built first, on an ordinary disk
        events = exported_log(tmp_path, 1000)
        scenario = Scenario("restore of 1,000 events", an_empty_directory, restore_of(events),
                            lambda b: {0, 1000})
    prepare_image(powerloss, scenario, tmp_path / "image")
    figures = crash_everywhere(powerloss, scenario, tmp_path / "image", modes=MODES)
    report(figures)
    assert figures.sync_points > 0
    assert figures.crashes == 1 + figures.sync_points * len(MODES)
    assert (figures.lost, figures.forked) == (0, 0)


def report(figures: Figures) -> None:
    """One line for docs/reliability.md (shown with ``-s``)."""
    print(
        f"\n{figures.operation}: {figures.sync_points} sync points"
        f" ({', '.join(sorted(figures.kinds))}), {figures.crashes} crashes,"
        f" {figures.acknowledged} acknowledged events and {figures.checkpoints} handed-out"
        f" checkpoints checked, lost {figures.lost},"
        f" forked {figures.forked}"
    )


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "replaced"])
def test_a_signing_key_saved_just_before_the_power_went_is_the_key_after_the_reboot(
    powerloss: PowerLossMount, overwrite: bool
) -> None:
    # before the fix the key file's name was never synced: after this crash a new
    # (or the old) key came back while checkpoints signed with the saved one were out
    path = powerloss.mountpoint / "signing.key"
    if overwrite:
        cp.save_signing_key(cp.generate_signing_key(), path)
        powerloss.sync()
    key = cp.generate_signing_key()
    cp.save_signing_key(key, path, overwrite=overwrite)
    powerloss.crash()
    powerloss.reboot()
    assert cp.public_key_bytes(cp.load_signing_key(path)) == cp.public_key_bytes(key)


def test_an_append_to_a_ledger_in_directories_just_created_survives_the_power_loss(
    powerloss: PowerLossMount,
) -> None:
    # SQLite syncs the database's own directory, never the ones above it: before the
    # fix a ledger created in new directories vanished whole, acknowledged appends too
    ledger = Ledger(powerloss.mountpoint / "srv" / "claims" / "data")
    store = ledger.store()
    store.init()
    cp.save_signing_key(cp.generate_signing_key(), ledger.key)
    events = store.append([recorded(str(uuid.uuid4()))], actor=ACTOR)
    store.close()
    powerloss.crash()
    powerloss.reboot()
    store = ledger.store()
    try:
        assert [e.to_json() for e in store.read_all()] == [e.to_json() for e in events]
        assert ledger.key.exists()
    finally:
        store.close()


def test_a_store_closed_after_its_commit_failed_closes_its_files_while_the_error_is_kept(
    powerloss: PowerLossMount,
) -> None:
    # a statement that failed with an I/O error stays unfinished while its cursor lives,
    # and SQLite defers closing the connection: before the fix a kept error (its
    # traceback holds the append's kept cursor) left the ledger's files open after close
    ledger = Ledger(powerloss.mountpoint / "ledger")
    ledger.directory.mkdir()
    store = ledger.store()
    store.init()
    store.append([recorded(str(uuid.uuid4()))], actor=ACTOR)
    powerloss.reset()
    powerloss.arm(1)  # the next commit's sync loses the power
    with pytest.raises(StoreUnavailable) as failed:
        store.append([recorded(str(uuid.uuid4()))], actor=ACTOR)
    store.close()
    left = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.realpath(f"/proc/self/fd/{fd}").startswith(str(ledger.directory))]
    assert "disk I/O error" in str(failed.value)
    assert left == []
