"""The server's clock stepped back by hours mid-traffic, across two gunicorn workers and
across a restart: ``recorded_at`` never decreases along the log, as-of reads stay exact.

The clock is the one fake here: ``clockshim/sitecustomize.py`` sets the server's
``utcnow`` back by the seconds written in a file this test rewrites.
"""

from __future__ import annotations

import os
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from ledger.envelope import RecordedEvent
from ledger.timeutil import format_time, parse_time
from tests.faults.importers import Importers, launch, serve_editor
from tests.support.long import scaled
from tests.support.server import Server, cli
from tests.support.waiting import wait_until

SHIM = Path(__file__).with_name("clockshim")
HOUR = 3600


def set_back(clock: Path, seconds: float) -> None:
    """Step the server's clock to ``seconds`` behind real time (atomically)."""
    partial = clock.with_suffix(".new")
    partial.write_text(f"{seconds}\n")
    partial.replace(clock)


def traffic(server: Server, imports: int) -> Importers:
    """Run three importers until ``imports`` more imports got a 201; return them stopped."""
    with Importers(server, count=3) as importers:
        wait_until(lambda: len(importers.since(0, 201)) >= imports, 60, f"{imports} imports")
    assert importers.statuses().keys() == {201}, importers.statuses()
    return importers


def recorded(server: Server) -> list[RecordedEvent]:
    """The whole log, in position order."""
    store = server.store()
    try:
        return list(store.iter_all())
    finally:
        store.close()


def assert_never_decreases(events: list[RecordedEvent]) -> None:
    """``recorded_at`` is non-decreasing along position."""
    for before, after in pairwise(events):
        assert after.recorded_at >= before.recorded_at, (
            f"recorded_at goes back at position {after.position}:"
            f" {before.recorded_at} then {after.recorded_at}"
        )


def test_a_clock_stepped_back_hours_never_makes_recorded_at_decrease(tmp_path: Path) -> None:
    imports, steps = scaled(10, 150), scaled(1, 6)
    clock = tmp_path / "clock"
    set_back(clock, 0)
    python_path = os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")]))
    server = serve_editor(tmp_path / "ledger", 2, PYTHONPATH=python_path,
                          LEDGER_TEST_CLOCK_FILE=str(clock))
    try:
        traffic(server, imports)
        before_step = recorded(server)[-1].recorded_at
        for step in range(1, steps + 1):
            set_back(clock, step * HOUR)  # each step sets it back further
            traffic(server, imports)
        events = recorded(server)
        assert_never_decreases(events)
        held = [e for e in events if e.recorded_at >= before_step]
        # the clock really went back: everything appended since sits at the stored head's time
        assert {e.recorded_at for e in held} == {before_step}, "the clock was not stepped back"
        assert len(held) > imports * steps
        check_as_of(server, events, before_step)
    finally:
        server.stop()
    # restart further back still: only the stored head can hold the line now
    set_back(clock, (steps + 2) * HOUR)
    again = launch(server.env, server.tokens, server.log)
    try:
        traffic(again, imports)
        events = recorded(again)
        assert_never_decreases(events)
        assert events[-1].recorded_at == before_step, "the restarted server's clock was not back"
        set_back(clock, 0)  # and forward again: time moves on from the head
        traffic(again, scaled(3, 30))
        events = recorded(again)
        assert_never_decreases(events)
        assert events[-1].recorded_at > before_step
        check_as_of(again, events, before_step)
    finally:
        again.stop()
    cli(again.env, "audit", "--quiet")
    print(f"\nclock back {steps}h in {steps} steps and across a restart: {len(events)} events,"
          f" {sum(e.recorded_at == before_step for e in events)} held at the head's time")


def check_as_of(server: Server, events: list[RecordedEvent], held_at: str) -> None:
    """As-of reads: a claim recorded while the clock was back exists as of the held time and
    not a microsecond before; the first claim, as of its own time, has exactly its versions."""
    late = [e for e in events if e.recorded_at == held_at and e.type == "ClaimRecorded"][-1]
    early = events[0]
    with server.client("editor") as client:
        url = f"/v1/claims/{late.claim_id}/history"
        at = client.get(url, params={"as_of": held_at})
        assert at.status_code == 200, at.text
        versions = [e.version for e in events if e.claim_id == late.claim_id]
        assert [e["version"] for e in at.json()["events"]] == versions
        before = client.get(url, params={"as_of": one_microsecond_before(held_at)})
        assert before.status_code == 404, before.text
        first = client.get(f"/v1/claims/{early.claim_id}/history",
                           params={"as_of": early.recorded_at})
        assert first.status_code == 200, first.text
        own = [e.version for e in events
               if e.claim_id == early.claim_id and e.recorded_at <= early.recorded_at]
        assert [e["version"] for e in first.json()["events"]] == own


def one_microsecond_before(text: str) -> str:
    """The stored time one microsecond earlier."""
    return format_time(parse_time(text) - timedelta(microseconds=1))
