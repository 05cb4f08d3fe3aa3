"""A disk that turns read-only around a commit: the append is not acknowledged.

An ext4 error aborts the journal, writes the error to the superblock and only then turns
the file system read-only. A commit synced in between can be told it succeeded although
its WAL growth was in the aborted journal and is gone after the repair (an acknowledged
import was lost this way: docs/reliability.md). The store checks the file system after
every commit; these tests break a real ext4 at exactly that point, after the read-only
flag and, with the superblock write held, before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ledger.envelope import NewEvent
from ledger.errors import StoreUnavailable
from ledger.events import validate_payload
from ledger.store import Idempotency
from ledger.store.sqlite import SQLiteEventStore
from tests.faults.small_disk import HeldDisk, LoopFilesystem

CLAIM = {"statement": "Iran is building two new plants at Bushehr.",
         "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars News Agency"}}


class FailingAfterCommit(SQLiteEventStore):
    """A store whose disk reports an error between the COMMIT and its acknowledgement."""

    disk: LoopFilesystem
    armed = False

    def _check_commit_durable(self, *lock: int | None) -> None:
        if self.armed:
            self.armed = False
            self.disk.fail()
        super()._check_commit_durable(*lock)


class InTheErrorWindow(SQLiteEventStore):
    """A store whose disk is between its journal abort and its read-only flag after a commit."""

    disk: HeldDisk
    armed = False

    def _check_commit_durable(self, *lock: int | None) -> None:
        if not self.armed:
            super()._check_commit_durable(*lock)
            return
        self.armed = False
        with self.disk.failing():
            super()._check_commit_durable(*lock)


@pytest.fixture
def store(disk: LoopFilesystem) -> FailingAfterCommit:
    """A ledger on the loop-mounted disk whose next armed commit turns it read-only."""
    failing = FailingAfterCommit(disk.path / "ledger.db")
    failing.disk = disk
    failing.init()
    return failing


@pytest.fixture
def held() -> Iterator[HeldDisk]:
    """A small ext4 whose writes to its device can be held (needs root and loop devices)."""
    try:
        disk = HeldDisk(32).__enter__()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot mount nested loop file systems here: {exc}")
    try:
        yield disk
    finally:
        disk.__exit__(None, None, None)


def _claim() -> NewEvent:
    return NewEvent(str(uuid.uuid4()), "ClaimRecorded", validate_payload("ClaimRecorded", CLAIM))


def test_a_commit_on_a_file_system_turned_read_only_is_not_acknowledged(
    disk: LoopFilesystem, store: FailingAfterCommit
) -> None:
    store.append([_claim()], actor="t")
    store.armed = True
    with pytest.raises(StoreUnavailable, match="failed during the commit"):
        store.append([_claim()], actor="t")
    assert disk.read_only()
    with pytest.raises(StoreUnavailable):
        store.append([_claim()], actor="t")
    store.close()


def test_a_retry_with_the_same_key_after_the_repair_writes_the_append_exactly_once(
    disk: LoopFilesystem, store: FailingAfterCommit
) -> None:
    event = _claim()
    key = Idempotency("import-1", "fingerprint-1")
    store.armed = True
    with pytest.raises(StoreUnavailable):
        store.append([event], actor="t", idempotency=key)
    store.close()
    disk.unmount()
    disk.repair()
    disk.mount()
    again = SQLiteEventStore(disk.path / "ledger.db")
    [written] = again.append([event], actor="t", idempotency=key)
    assert [e.id for e in again.read_all()] == [written.id]
    assert [e.id for e in again.append([event], actor="t", idempotency=key)] == [written.id]
    again.close()


def test_a_commit_while_the_journal_is_aborted_but_the_disk_not_yet_read_only_is_refused(
    held: HeldDisk,
) -> None:
    store = InTheErrorWindow(held.path / "ledger.db")
    store.disk = held
    store.init()
    kept = store.append([_claim()], actor="t")
    store.armed = True
    with pytest.raises(StoreUnavailable, match="failed during the commit"):
        store.append([_claim()], actor="t")
    assert "emergency_ro" in held.options()
    store.close()
    held.unmount()
    held.repair()
    held.mount()
    again = SQLiteEventStore(held.path / "ledger.db")
    assert [e.id for e in again.read_all()][: len(kept)] == [e.id for e in kept]
    again.close()
