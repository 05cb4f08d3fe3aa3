"""Power lost at every sync point of the SQLite ledger's writes: nothing acknowledged is lost.

Each test crashes one operation at each of its sync points (``crashing.crash_everywhere``)
and checks the rebooted ledger. CI drops every unsynced write once per sync point;
``scripts/test --long`` also tears the last write and keeps random unsynced pages.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from ledger import checkpoint as cp
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.importing import plan_import
from ledger.store.sqlite import SQLiteEventStore
from tests.powerloss.conftest import LONG
from tests.powerloss.crashing import (
    ACTOR,
    Figures,
    Ledger,
    Run,
    Scenario,
    crash_everywhere,
    prepare_image,
)
from tests.powerloss.mount import PowerLossMount

MODES = ("drop", "torn", "random") if LONG else ("drop",)


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
    ],
)
def test_power_lost_at_every_sync_point_loses_no_acknowledged_write_and_forks_no_checkpoint(
    powerloss: PowerLossMount, tmp_path: Path, scenario: Scenario
) -> None:
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
        f" {figures.acknowledged} acknowledged events checked, lost {figures.lost},"
        f" forked {figures.forked}"
    )
