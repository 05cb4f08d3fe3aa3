"""The one-event append's fast paths give exactly what the general paths give."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ledger import merkle
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.ids import new_uuid
from ledger.store import Idempotency, open_store
from ledger.timeutil import format_time, now_text, utcnow

CLAIM = {"statement": "The dam will be finished in 2027.", "claimant": {"name": "A minister"},
         "appearance": {"outlet": "A paper"}}

_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(_times)
def test_format_time_of_utc_is_the_general_form(value: datetime) -> None:
    # the same instant in another zone takes the general path
    other = value.astimezone(timezone(timedelta(hours=1)))
    assert format_time(value) == format_time(other)
    assert format_time(value) == value.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")


@given(st.integers(min_value=0, max_value=2**40))
def test_resume_levels_are_the_perfect_subtrees(size: int) -> None:
    levels = [level for level, _ in merkle.perfect_subtrees(0, size)]
    edge = [bytes([i]) * merkle.HASH_SIZE for i in range(len(levels))]
    tree = merkle.CompactTree.resume(size, edge)
    assert tree.size == size
    assert tree.edge() == edge
    assert [level for level, _ in tree._edge] == levels


@given(st.integers(min_value=0, max_value=253402300799 * 10**9))
def test_now_text_is_format_time_of_the_same_clock_reading(ns: int) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert now_text(lambda: ns) == format_time(epoch + timedelta(microseconds=ns // 1000))


def test_now_text_reads_the_clock_utcnow_reads() -> None:
    for _ in range(1000):
        before, text, after = format_time(utcnow()), now_text(), format_time(utcnow())
        assert before <= text <= after


def _rows(path: Path) -> list[list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return [
            conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in ("events", "payloads", "merkle_nodes")
        ]
    finally:
        conn.close()


def test_one_event_appends_write_the_rows_a_batch_of_the_same_events_writes(
    tmp_path: Path,
) -> None:
    claim, other = new_uuid(), new_uuid()
    recorded = validate_payload("ClaimRecorded", CLAIM)
    events = [
        NewEvent(claim, "ClaimRecorded", recorded, id=new_uuid()),
        NewEvent(other, "ClaimRecorded", recorded, id=new_uuid()),
        *[
            NewEvent(claim if i % 3 else other, "NoteAdded", {"text": f"note {i} \u00fc"},
                     occurred_at="2026-01-02T03:04:05.000006Z" if i % 2 else None,
                     metadata={"via": "test"} if i % 4 else {}, id=new_uuid())
            for i in range(21)
        ],
        NewEvent(claim, "ClaimLinked",
                 validate_payload("ClaimLinked", {"target_claim_id": other, "kind": "restates"}),
                 id=new_uuid()),
    ]
    # a correction, whose payload the stream rules normalise under the lock (the id lowered)
    corroborated = NewEvent(claim, "ClaimCorroborated",
                            validate_payload("ClaimCorroborated", {"by": {"name": "A source"}}),
                            id=new_uuid())
    events += [corroborated, NewEvent(claim, "EntryCorrected", validate_payload("EntryCorrected", {
        "target_event_id": corroborated.id, "kind": "correction",
        "changes": {"related_claim_id": other.upper()}, "reason": "The other claim."}),
        id=new_uuid())]
    now = datetime(2026, 12, 3, 13, 0, tzinfo=UTC)
    one = open_store(f"sqlite:///{tmp_path}/one.db")
    batch = open_store(f"sqlite:///{tmp_path}/batch.db")
    try:
        one.init()
        batch.init()
        for i, event in enumerate(events):  # one at a time: the one-event path
            key = Idempotency(f"key-{i}", "fingerprint") if i % 2 else None
            expected = {event.claim_id: one.claim_version(event.claim_id)}
            [written] = one.append([event], actor="t", now=now, idempotency=key,
                                   expected_versions=expected)
            if key is not None:  # a repeat returns what the first wrote, and writes nothing
                assert one.append([event], actor="t", idempotency=key) == [written]
        for first in range(0, len(events), 2):  # two at a time: the general path
            batch.append(events[first : first + 2], actor="t", now=now)
        assert one.read_all(limit=100) == batch.read_all(limit=100)
    finally:
        one.close()
        batch.close()
    assert _rows(tmp_path / "one.db") == _rows(tmp_path / "batch.db")



def test_every_commit_changes_the_writer_lock_files_length(tmp_path: Path) -> None:
    # the check after a commit (a length change the kernel must journal) proves nothing
    # unless the length really changes: one-event appends name it, other writes flip it
    store = open_store(f"sqlite:///{tmp_path}/ledger.db")
    lock = tmp_path / "ledger.db-writer.lock"
    claim, key = new_uuid(), Idempotency("key", "fingerprint")
    recorded = validate_payload("ClaimRecorded", CLAIM)
    writes = [
        lambda: store.append([NewEvent(claim, "ClaimRecorded", recorded)], actor="t"),
        lambda: store.append([NewEvent(claim, "NoteAdded", {"text": "one"})], actor="t"),
        lambda: store.append([NewEvent(claim, "NoteAdded", {"text": "two"})] * 2, actor="t"),
        lambda: store.append([NewEvent(claim, "NoteAdded", {"text": "three"})], actor="t",
                             idempotency=key),
        lambda: store.append([NewEvent(claim, "NoteAdded", {"text": "three"})], actor="t",
                             idempotency=key),  # a replay: writes nothing, still commits
        lambda: store.append([NewEvent(claim, "NoteAdded", {"text": "four"})], actor="t"),
        lambda: store.append([NewEvent(claim, "NoteAdded", {"text": "five"})], actor="t"),
    ]
    try:
        store.init()
        lengths = [lock.stat().st_size if lock.exists() else 0]  # made by the first write
        for write in writes:
            write()
            lengths.append(lock.stat().st_size)
    finally:
        store.close()
    assert all(a != b for a, b in itertools.pairwise(lengths)), lengths
