"""A disk that turns read-only right after a commit's fsync: the append is not acknowledged.

Linux has answered ``fsync`` with success, writing nothing, on an ext4 that an error had
remounted read-only, so a commit caught at that instant could be acknowledged and lost.
The store checks the file system after every commit; these tests turn a real ext4
read-only at exactly that point.
"""

from __future__ import annotations

import uuid

import pytest

from ledger.envelope import NewEvent
from ledger.errors import StoreUnavailable
from ledger.events import validate_payload
from ledger.store import Idempotency
from ledger.store.sqlite import SQLiteEventStore
from tests.faults.small_disk import LoopFilesystem

CLAIM = {"statement": "Iran is building two new plants at Bushehr.",
         "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars News Agency"}}


class FailingAfterCommit(SQLiteEventStore):
    """A store whose disk reports an error between the COMMIT and its acknowledgement."""

    disk: LoopFilesystem
    armed = False

    def _check_commit_durable(self) -> None:
        if self.armed:
            self.armed = False
            self.disk.fail()
        super()._check_commit_durable()


@pytest.fixture
def store(disk: LoopFilesystem) -> FailingAfterCommit:
    """A ledger on the loop-mounted disk whose next armed commit turns it read-only."""
    failing = FailingAfterCommit(disk.path / "ledger.db")
    failing.disk = disk
    failing.init()
    return failing


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
