"""The SQLite database's disk fills up, or turns read-only after a disk error, under a real
``claimledger serve`` while clients import: 503 problems and an unready /readyz, never a
500 nor half an import, and appends again once the space (or a repaired disk) is back."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest

from ledger.envelope import NewEvent
from ledger.errors import StoreUnavailable
from ledger.store.sqlite import SQLiteEventStore
from tests.faults.importers import (
    Importers,
    assert_only_201_or_503,
    assert_settled_log,
    launch,
    serve_editor,
)
from tests.faults.small_disk import LoopFilesystem
from tests.support.long import scaled
from tests.support.server import Server
from tests.support.waiting import wait_until


def serve_on(disk: LoopFilesystem, directory: Path) -> Server:
    """A server whose database (only: logs and keys stay elsewhere) is on ``disk``."""
    return serve_editor(directory, LEDGER_DATABASE_URL=f"sqlite:///{disk.path / 'ledger.db'}")


def readiness(server: Server) -> httpx.Response:
    """``GET /readyz``."""
    return httpx.get(f"{server.url}/readyz", timeout=10)


def assert_unready(server: Server) -> None:
    """/readyz says the store is unavailable, as a 503 problem with Retry-After."""
    ready = readiness(server)
    assert ready.status_code == 503, ready.text
    assert ready.headers["retry-after"].isdigit()
    assert ready.json()["checks"]["store"] == "unavailable"


def test_a_full_disk_answers_503_and_imports_resume_when_space_returns(
    disk: LoopFilesystem, tmp_path: Path
) -> None:
    cycles = scaled(1, 5)
    server = serve_on(disk, tmp_path / "ledger")
    try:
        recoveries: list[float] = []
        with Importers(server, count=3) as importers:
            wait_until(lambda: len(importers.since(0, 201)) >= 10, 30, "imports to flow")
            for _ in range(cycles):
                recoveries.append(disk_full_once(disk, server, importers))
        answers = importers.answers
        statuses = importers.statuses()
        assert_only_201_or_503(answers)
        assert server.log.read_text().count("Booting worker") == 2, "a worker was restarted"
        facts = assert_settled_log(server, answers)
        print(
            f"\ndisk full x{cycles}: {dict(statuses)}, first 201 after the space returned in"
            f" {max(recoveries):.2f}s max, log {facts.head} events in {facts.keys} imports"
        )
    finally:
        server.stop()


def disk_full_once(disk: LoopFilesystem, server: Server, importers: Importers) -> float:
    """Fill the disk until imports get 503s and /readyz fails, free it; seconds to a 201."""
    full = time.monotonic()
    disk.fill()
    # appends may still fit in pages SQLite already holds; the next ones cannot
    wait_until(lambda: len(importers.since(full, 503)) >= 5, 30, "503s on the full disk")
    assert_unready(server)
    disk.free()
    freed = time.monotonic()
    wait_until(lambda: len(importers.since(freed, 201)) >= 6, 30, "imports to succeed again")
    wait_until(lambda: readiness(server).status_code == 200, 10, "/readyz to be ready again")
    return min(a.finished for a in importers.since(freed, 201)) - freed


def test_a_disk_turned_read_only_answers_503_and_loses_no_acknowledged_import(
    disk: LoopFilesystem, tmp_path: Path
) -> None:
    server = serve_on(disk, tmp_path / "ledger")
    try:
        with Importers(server, count=3) as importers:
            wait_until(lambda: len(importers.since(0, 201)) >= scaled(10, 200), 120,
                       "imports to flow")
            broken = time.monotonic()
            disk.fail()
            assert disk.read_only()
            wait_until(lambda: len(importers.since(broken, 503)) >= 5, 30, "503s once read-only")
            assert_unready(server)
        assert_only_201_or_503(importers.answers)
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        # a process that opens the store only now (its writer lock file cannot be opened)
        late = SQLiteEventStore(disk.path / "ledger.db")
        try:
            note = NewEvent(str(uuid.uuid4()), "NoteAdded", {"text": "too late"})
            with pytest.raises(StoreUnavailable):
                late.append([note], actor="test")
        finally:
            late.close()
    finally:
        server.stop()
    # the operator's repair: unmount, fsck, mount; then serve again and settle the 503s
    disk.unmount()
    disk.repair()
    disk.mount()
    again = launch(server.env, server.tokens, server.log)
    try:
        facts = assert_settled_log(again, importers.answers)
    finally:
        again.stop()
    statuses = importers.statuses()
    print(f"\nread-only disk: {dict(statuses)}, after repair the log holds every acknowledged"
          f" import ({facts.head} events in {facts.keys} imports)")
