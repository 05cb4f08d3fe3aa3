"""The event store contract: one abstract test class, one subclass per backend.

A backend's test module subclasses ``StoreContract``, provides the ``new_url`` fixture
(a factory of URLs naming fresh, empty databases) and the few raw-database hooks below.
Concurrency is tested with real processes (``spawn``), never threads pretending to be
processes, and every wait is on a condition with a deadline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import multiprocessing
import os
import queue as queue_module
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import pytest

from ledger import hashing
from ledger.audit import audit
from ledger.envelope import NewEvent, RecordedEvent
from ledger.errors import (
    ClaimNotFound,
    ConcurrencyConflict,
    IdempotencyConflict,
    IntegrityError,
    StoreNotEmpty,
    StoreUnavailable,
    ValidationFailed,
)
from ledger.events import validate_payload
from ledger.store import EventStore, Idempotency, fingerprint, open_store
from ledger.store.caches import ROLL_FORWARD_LIMIT, Leaf
from ledger.store.sessions import SessionRecord
from ledger.store.tokens import TokenRecord
from ledger.timeutil import format_time
from tests.support.waiting import wait_until

#: how long the tailing reader runs against concurrent writers
TAIL_SECONDS = float(os.environ.get("LEDGER_TEST_TAIL_SECONDS", "20"))
#: events in the one large append that a writer is killed in the middle of
BIG_APPEND = int(os.environ.get("LEDGER_TEST_BIG_APPEND", "20000"))
#: concurrent writer processes on one claim
WRITERS = 8
#: processes that initialise the same fresh databases at once
INIT_PROCESSES = 6
#: appends by a forked child and its parent at the same time
FORK_APPENDS = 50

ACTOR = "desk@example.org"
MONDAY = datetime(2014, 9, 15, 8, 0, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")


# --- events ---------------------------------------------------------------------


def new_claim_id() -> str:
    """A fresh claim id."""
    return str(uuid.uuid4())


def recorded(claim_id: str, statement: str = "Kerry asked Zarif to help against ISIL.") -> NewEvent:
    """A validated ``ClaimRecorded`` for a new claim."""
    data = validate_payload(
        "ClaimRecorded",
        {
            "statement": statement,
            "claimant": {"name": "Ali Khamenei", "same_as": "https://www.wikidata.org/wiki/Q57336"},
            "appearance": {"outlet": "Fars News Agency", "quote": "« Kerry a demandé » — ü ñ 中文"},
            "tags": ["isil", "iran"],
        },
    )
    return NewEvent(claim_id, "ClaimRecorded", data, metadata={"request_id": "r-1"})


def note(claim_id: str, text: str = "Called the press office.") -> NewEvent:
    """A validated ``NoteAdded``."""
    return NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": text}))


def denied(claim_id: str, by: str = "US Department of State") -> NewEvent:
    """A validated ``ClaimDenied``."""
    data = validate_payload("ClaimDenied", {"by": {"name": by}, "note": "Daily press briefing."})
    return NewEvent(claim_id, "ClaimDenied", data, occurred_at="2014-09-15T17:30:00.000000Z")


def corrected(claim_id: str, target_event_id: str, kind: str = "void") -> NewEvent:
    """A validated ``EntryCorrected``."""
    data = validate_payload(
        "EntryCorrected",
        {"target_event_id": target_event_id, "kind": kind, "reason": "Logged on the wrong claim."},
    )
    return NewEvent(claim_id, "EntryCorrected", data)


def export(store: EventStore) -> list[RecordedEvent]:
    """The whole log as it would be written to and read back from an NDJSON export."""
    return [RecordedEvent.from_json(json.loads(json.dumps(e.to_json()))) for e in store.iter_all()]


def export_bytes(store: EventStore) -> list[bytes]:
    """Each exported envelope in its RFC 8785 form."""
    return [hashing.canonical_json(e.to_json()) for e in store.iter_all()]


# --- waiting ----------------------------------------------------------------------


def receive(channel: Any, timeout: float, what: str) -> Any:
    """The next message from a multiprocessing queue, failing after ``timeout`` seconds."""
    try:
        return channel.get(timeout=timeout)
    except queue_module.Empty:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}") from None


@contextmanager
def running(processes: Sequence[BaseProcess]) -> Iterator[None]:
    """Start processes; on the way out kill any that are still alive."""
    for process in processes:
        process.start()
    try:
        yield
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join(30)


def _reaped(pid: int) -> tuple[int] | None:
    """The wait status of a child process that has exited, else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return (status,) if done else None


# --- code run in child processes (module level, so ``spawn`` can import it) ------------


def _init_child(urls: list[str], barrier: Any, results: Any) -> None:
    try:
        for url in urls:
            store = open_store(url)
            barrier.wait(60)  # everyone opens and migrates the same fresh database at once
            store.init()
            store.close()
        results.put("ok")
    except BaseException as exc:
        barrier.abort()  # the others fail fast instead of waiting at the barrier
        results.put(repr(exc))


def _rival_child(url: str, claim_id: str, number: int, rounds: int, free: int, barrier: Any,
                 results: Any) -> None:
    actor = f"writer-{number}"
    try:
        store = open_store(url)
        wins = conflicts = 0
        for round_number in range(rounds):
            barrier.wait(60)
            version = store.read_claim(claim_id)[-1].version
            barrier.wait(60)  # everyone has read the same version before anyone appends
            try:
                store.append([note(claim_id, f"{actor} round {round_number}")], actor=actor,
                             expected_versions={claim_id: version})
                wins += 1
            except ConcurrencyConflict as exc:
                if (exc.expected, exc.actual) != (version, version + 1):
                    raise
                conflicts += 1
        barrier.wait(60)  # the last round's losers have tried before anyone writes freely
        done = retries = 0
        while done < free:
            version = store.read_claim(claim_id)[-1].version
            try:
                store.append([note(claim_id, f"{actor} free {done}")], actor=actor,
                             expected_versions={claim_id: version})
                done += 1
            except ConcurrencyConflict:
                retries += 1
        store.close()
        results.put(("done", number, wins, conflicts, retries))
    except BaseException as exc:
        results.put(("error", number, repr(exc)[:300]))


def _tail_writer_child(url: str, number: int, stop: Any, results: Any) -> None:
    actor = f"tail-writer-{number}"
    rng = random.Random(number)
    claims: list[str] = []
    appended = 0
    try:
        store = open_store(url)
        results.put(("started", number))
        while not stop.is_set():
            batch: list[NewEvent] = []
            for _ in range(rng.randint(1, 25)):
                if not claims or rng.random() < 0.15:
                    claims.append(new_claim_id())
                    batch.append(recorded(claims[-1]))
                else:
                    batch.append(note(rng.choice(claims), f"{actor} {appended + len(batch)}"))
            store.append(batch, actor=actor)
            appended += len(batch)
        store.close()
        results.put(("done", number, appended))
    except BaseException as exc:
        results.put(("error", number, repr(exc)[:300]))


def _big_append_child(url: str, claim_id: str, count: int, results: Any, pause: bool) -> None:
    store = open_store(url)
    events = [
        NewEvent(claim_id, "NoteAdded", {"text": f"bulk note {i}"}) for i in range(count)
    ]
    if pause:  # stop for good right after the rows are inserted, before the commit
        original = store.write_transaction

        @contextmanager
        def paused() -> Iterator[Any]:
            with original() as tx:
                insert = tx.insert

                def insert_then_wait(records: Any, payloads: Any, *nodes: Any) -> None:
                    insert(records, payloads, *nodes)
                    results.put(("inserted", len(records)))
                    threading.Event().wait()

                tx.insert = insert_then_wait  # type: ignore[method-assign]
                yield tx

        store.write_transaction = paused  # type: ignore[method-assign]
    results.put(("started", os.getpid()))
    store.append(events, actor="bulk-writer")
    results.put(("committed", count))


# --- the contract -------------------------------------------------------------------


class StoreContract:
    """Behaviour every ``EventStore`` backend must show; subclass once per backend."""

    #: raw statements the database itself must refuse
    refused_statements: tuple[str, ...] = (
        "UPDATE events SET actor = 'mallory'",
        "DELETE FROM events",
        "UPDATE payloads SET data = '{}'",
        "DELETE FROM payloads",
    )

    #: how many fresh databases several processes initialise at once (races are rare)
    init_rounds = 40

    # --- backend hooks ----------------------------------------------------------------
    @pytest.fixture
    def new_url(self) -> Callable[[], str]:
        """A factory of URLs of fresh, empty databases."""
        raise NotImplementedError

    def raw_execute(self, url: str, statement: str) -> None:
        """Run one statement with a raw driver connection, bypassing the store."""
        raise NotImplementedError

    def raw_rows(self, url: str, query: str) -> list[tuple[Any, ...]]:
        """Rows of a query run with a raw driver connection."""
        raise NotImplementedError

    def append_lock_held(self, url: str) -> bool:
        """Whether a writer started from ``writer_url(url)`` holds the append lock."""
        raise NotImplementedError

    def writer_url(self, url: str) -> str:
        """The URL a child writer uses (lets a backend tag its sessions)."""
        return url

    def unreachable_store(self, tmp_path: Path) -> EventStore:
        """A store whose database cannot be reached."""
        raise NotImplementedError

    # --- fixtures ---------------------------------------------------------------------
    @pytest.fixture
    def url(self, new_url: Callable[[], str]) -> str:
        return new_url()

    @pytest.fixture
    def store(self, url: str) -> Iterator[EventStore]:
        store = open_store(url)
        store.init()
        yield store
        store.close()

    @pytest.fixture
    def fresh_store(self, new_url: Callable[[], str]) -> Iterator[Callable[[], EventStore]]:
        stores: list[EventStore] = []

        def make() -> EventStore:
            stores.append(open_store(new_url()))
            stores[-1].init()
            return stores[-1]

        yield make
        for store in stores:
            store.close()

    # --- schema -----------------------------------------------------------------------
    def test_init_is_safe_to_repeat_and_keeps_the_data(self, store: EventStore, url: str) -> None:
        claim = new_claim_id()
        store.append([recorded(claim)], actor=ACTOR)
        store.init()
        store.init()
        assert [e.version for e in store.read_claim(claim)] == [1]
        versions = self.raw_rows(url, "SELECT version FROM ledger_schema ORDER BY version")
        assert versions[:2] == [(1,), (2,)]
        assert [v for (v,) in versions] == list(range(1, len(versions) + 1))

    def test_init_run_by_several_processes_at_once_migrates_each_database_exactly_once(
        self, new_url: Callable[[], str]
    ) -> None:
        urls = [new_url() for _ in range(self.init_rounds)]
        barrier, results = SPAWN.Barrier(INIT_PROCESSES), SPAWN.Queue()
        processes = [
            SPAWN.Process(target=_init_child, args=(urls, barrier, results))
            for _ in range(INIT_PROCESSES)
        ]
        with running(processes):
            outcomes = [receive(results, 240, "the init processes") for _ in processes]
        assert outcomes == ["ok"] * INIT_PROCESSES
        migrated = {
            tuple(self.raw_rows(url, "SELECT version FROM ledger_schema ORDER BY version"))
            for url in urls
        }
        assert len(migrated) == 1
        assert next(iter(migrated))[:2] == ((1,), (2,))
        store = open_store(urls[-1])
        try:
            assert store.append([recorded(new_claim_id())], actor=ACTOR)[0].position == 1
        finally:
            store.close()

    def test_a_store_that_was_never_initialised_reports_itself_unavailable(self, url: str) -> None:
        store = open_store(url)
        try:
            with pytest.raises(StoreUnavailable):
                store.ping()
            with pytest.raises(StoreUnavailable):
                store.head()
        finally:
            store.close()

    def test_an_unreachable_database_raises_store_unavailable(self, tmp_path: Path) -> None:
        store = self.unreachable_store(tmp_path)
        try:
            with pytest.raises(StoreUnavailable):
                store.ping()
            with pytest.raises(StoreUnavailable):
                store.append([recorded(new_claim_id())], actor=ACTOR)
        finally:
            store.close()

    def test_ping_succeeds_on_an_initialised_store(self, store: EventStore) -> None:
        store.ping()

    # --- appending and reading ------------------------------------------------------------
    def test_an_empty_store_has_head_zero_and_no_events(self, store: EventStore) -> None:
        assert store.head() == 0
        assert store.read_all() == []
        assert store.read_claim(new_claim_id()) == []

    def test_appended_events_get_versions_positions_and_hashes_anyone_can_recompute(
        self, store: EventStore
    ) -> None:
        first, second = new_claim_id(), new_claim_id()
        records = store.append(
            [recorded(first), recorded(second), note(first), denied(first), note(second)],
            actor=ACTOR,
        )
        assert [(e.claim_id, e.version, e.position) for e in records] == [
            (first, 1, 1), (second, 1, 2), (first, 2, 3), (first, 3, 4), (second, 2, 5),
        ]
        assert store.read_all() == records
        assert store.head() == 5
        chain: dict[str, str | None] = {}
        for event in records:
            assert event.actor == ACTOR
            assert event.prev_hash == chain.get(event.claim_id)
            assert event.payload_sha256 == hashing.payload_sha256(dict(event.data or {}))
            assert event.leaf_hash == hashing.leaf_hash(event.leaf_input()).hex()
            chain[event.claim_id] = event.leaf_hash
        assert records[3].occurred_at == "2014-09-15T17:30:00.000000Z"
        assert records[0].occurred_at == records[0].recorded_at

    def test_payloads_are_stored_as_their_exact_canonical_json_text(
        self, store: EventStore, url: str
    ) -> None:
        store.append([recorded(new_claim_id())], actor=ACTOR)
        [(data,)] = self.raw_rows(url, "SELECT data FROM payloads")
        event = store.read_all()[0]
        assert data == hashing.canonical_json(dict(event.data or {})).decode("utf-8")
        assert hashlib.sha256(data.encode("utf-8")).hexdigest() == event.payload_sha256

    def test_a_claims_envelopes_as_json_text_equal_its_events_to_json(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        awkward = "tab\there \"quoted\" \\ ü 中文 \u2028"
        first = store.append([recorded(claim), note(claim, awkward)], actor="desk \u00e9")
        store.append([denied(claim)], actor=ACTOR)
        store.redact(first[1].id, actor="legal@example.org", reason="Court order « 14 ».")
        for as_of in (None, first[0].recorded_at):
            texts = store.read_claim_json(claim, as_of=as_of)
            events = store.read_claim(claim, as_of=as_of)
            assert [v for v, _ in texts] == [e.version for e in events]
            assert [json.loads(t) for _, t in texts] == [e.to_json() for e in events]
        assert len(store.read_claim_json(claim)) == 3
        assert store.read_claim_json(new_claim_id()) == []

    def test_the_logs_envelopes_as_json_text_equal_its_events_to_json(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        awkward = "tab\there \"quoted\" \\ ü 中文 \u2028 \u2029 \U0001f600"
        first = store.append([recorded(claim), note(claim, awkward)], actor="desk \u00e9")
        store.append([denied(claim)], actor=ACTOR)
        store.redact(first[1].id, actor="legal@example.org", reason="Court order « 14 ».")
        for after, limit in ((0, 1000), (1, 1), (0, 2), (3, 5)):
            texts = store.read_all_json(after, limit)
            events = store.read_all(after, limit)
            assert [p for p, _ in texts] == [e.position for e in events]
            assert [json.loads(t) for _, t in texts] == [e.to_json() for e in events]
        assert len(store.read_all_json()) == 3

    def test_read_all_pages_through_the_log_in_position_order(self, store: EventStore) -> None:
        claim = new_claim_id()
        store.append([recorded(claim)] + [note(claim, f"n{i}") for i in range(24)], actor=ACTOR)
        pages, after = [], 0
        while page := store.read_all(after=after, limit=10):
            pages.append([e.position for e in page])
            after = page[-1].position
        assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
        assert [e.position for e in store.read_all(after=7, limit=3)] == [8, 9, 10]
        assert store.read_all(after=25) == []
        assert [e.position for e in store.iter_all(batch=7)] == list(range(1, 26))

    def test_get_event_returns_the_stored_event_by_id_or_none(self, store: EventStore) -> None:
        claim = new_claim_id()
        records = store.append([recorded(claim), note(claim)], actor=ACTOR)
        assert store.get_event(records[1].id) == records[1]
        assert store.get_event(str(uuid.uuid4())) is None

    def test_ids_starting_finds_claims_and_events_by_prefix_in_order(
        self, store: EventStore
    ) -> None:
        claims = sorted(new_claim_id() for _ in range(3))
        records = store.append([recorded(c) for c in claims] + [note(claims[0])], actor=ACTOR)
        assert store.ids_starting(claims[0][:8]) == [claims[0]]
        assert store.ids_starting("") == claims  # each claim once, however many events
        assert store.ids_starting("", limit=2) == claims[:2]
        assert store.ids_starting(claims[1]) == [claims[1]]
        assert store.ids_starting(claims[1][:-1] + "-") == []
        assert store.ids_starting(records[3].id[:-1], events=True) == [records[3].id]
        assert store.ids_starting("", events=True) == sorted(r.id for r in records)

    def test_read_claim_returns_only_that_claims_events_in_version_order(
        self, store: EventStore
    ) -> None:
        first, second = new_claim_id(), new_claim_id()
        store.append([recorded(first), recorded(second)], actor=ACTOR)
        store.append([note(second), note(first)], actor=ACTOR)
        assert [(e.version, e.position) for e in store.read_claim(first)] == [(1, 1), (2, 4)]

    def test_a_correction_may_target_an_event_appended_earlier_in_the_same_call(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        [_, wrong] = store.append([recorded(claim), note(claim, "wrong claim")], actor=ACTOR)
        store.append([note(claim, "another"), corrected(claim, wrong.id)], actor=ACTOR)
        with pytest.raises(ValidationFailed):
            store.append([corrected(claim, wrong.id)], actor=ACTOR)  # already voided
        assert store.head() == 4

    def test_a_link_must_name_another_claim_that_exists_and_writes_nothing_otherwise(
        self, store: EventStore
    ) -> None:
        source, target = new_claim_id(), new_claim_id()
        store.append([recorded(source)], actor=ACTOR)

        def linked(to: str) -> NewEvent:
            data = validate_payload("ClaimLinked", {"target_claim_id": to, "kind": "same-as"})
            return NewEvent(source, "ClaimLinked", data)

        for wrong, message in ((target, "Unknown claim."), (source, "Names this claim itself.")):
            with pytest.raises(ValidationFailed) as caught:
                store.append([linked(wrong)], actor=ACTOR)
            assert caught.value.errors == {"data.target_claim_id": [message]}
        assert store.head() == 1
        [_, link] = store.append([recorded(target), linked(target)], actor=ACTOR)  # same call
        store.append([corrected(source, link.id)], actor=ACTOR)
        assert [e.type for e in store.read_claim(source)] == [
            "ClaimRecorded", "ClaimLinked", "EntryCorrected"]

    # --- as-of and the clock ----------------------------------------------------------
    def test_read_claim_as_of_returns_the_events_recorded_by_then(self, store: EventStore) -> None:
        claim = new_claim_id()
        times = [MONDAY, MONDAY + timedelta(hours=5, milliseconds=500), MONDAY + timedelta(days=1)]
        for event, now in zip([recorded(claim), note(claim), denied(claim)], times, strict=True):
            store.append([event], actor=ACTOR, now=now)

        def versions(as_of: str) -> list[int]:
            return [e.version for e in store.read_claim(claim, as_of=as_of)]

        assert versions(format_time(MONDAY - timedelta(microseconds=1))) == []
        assert versions(format_time(MONDAY)) == [1]
        assert versions(format_time(times[1])) == [1, 2]
        assert versions(format_time(times[2] - timedelta(microseconds=1))) == [1, 2]
        assert versions(format_time(times[2])) == [1, 2, 3]
        # any RFC 3339 spelling of the same instant means the same thing
        assert versions("2014-09-15T13:00:00Z") == [1]
        assert versions("2014-09-15T15:00:00.5+02:00") == [1, 2]

    def test_recorded_at_never_decreases_along_position_even_when_the_clock_goes_back(
        self, store: EventStore
    ) -> None:
        first, second = new_claim_id(), new_claim_id()
        later, earlier = MONDAY + timedelta(hours=1), MONDAY
        store.append([recorded(first)], actor=ACTOR, now=later)
        store.append([recorded(second), note(second)], actor=ACTOR, now=earlier)
        store.append([note(first)], actor=ACTOR, now=later + timedelta(microseconds=1))
        stamps = [e.recorded_at for e in store.read_all()]
        assert stamps == [format_time(later)] * 3 + [format_time(later + timedelta(microseconds=1))]
        assert stamps == sorted(stamps)

    # --- optimistic concurrency -------------------------------------------------------
    def test_a_stale_expected_version_is_rejected_and_writes_nothing(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        store.append([recorded(claim)], actor=ACTOR, expected_versions={claim: 0})
        store.append([note(claim)], actor=ACTOR, expected_versions={claim: 1})
        with pytest.raises(ConcurrencyConflict) as caught:
            store.append([note(claim, "stale")], actor=ACTOR, expected_versions={claim: 1})
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        with pytest.raises(ConcurrencyConflict):
            store.append([recorded(new_claim_id())], actor=ACTOR, expected_versions={claim: 3})
        assert store.head() == 2

    def test_eight_writer_processes_on_one_claim_lose_no_update_and_leave_no_gap(
        self, store: EventStore, url: str
    ) -> None:
        claim, rounds, free = new_claim_id(), 5, 6
        store.append([recorded(claim)], actor=ACTOR)
        barrier, results = SPAWN.Barrier(WRITERS), SPAWN.Queue()
        processes = [
            SPAWN.Process(target=_rival_child, args=(url, claim, n, rounds, free, barrier, results))
            for n in range(WRITERS)
        ]
        with running(processes):
            reports = [receive(results, 240, "the writer processes") for _ in processes]
        assert [r for r in reports if r[0] != "done"] == []
        # each round: everyone read the same version, exactly one won, seven were rejected
        assert sum(r[2] for r in reports) == rounds
        assert sum(r[3] for r in reports) == rounds * (WRITERS - 1)
        events = store.read_claim(claim)
        total = 1 + rounds + WRITERS * free
        assert [e.version for e in events] == list(range(1, total + 1))
        assert [e.position for e in store.read_all(limit=10_000)] == list(range(1, total + 1))
        texts = {e.data["text"] for e in events[1:] if e.data is not None}
        assert {f"writer-{n} free {i}" for n in range(WRITERS) for i in range(free)} <= texts
        for previous, event in itertools.pairwise(events):
            assert event.prev_hash == previous.leaf_hash

    def test_leaves_since_lists_the_events_after_a_position_in_order_up_to_a_limit(
        self, store: EventStore
    ) -> None:
        first, second = new_claim_id(), new_claim_id()
        store.append([recorded(first), recorded(second)], actor=ACTOR)
        store.append([note(first), note(second)], actor=ACTOR)
        events = store.read_all(limit=10)
        with store.write_transaction() as tx:
            assert tx.leaves_since(1, 10) == [
                Leaf(e.position, e.claim_id, e.version, e.leaf_hash) for e in events[1:]
            ]
            assert [leaf.position for leaf in tx.leaves_since(1, 2)] == [2, 3]
            assert tx.leaves_since(4, 10) == []

    def test_stores_appending_in_turn_keep_every_chain_and_the_tree_exact(
        self, url: str
    ) -> None:
        # each store has its own head and frontier caches, as each API process does: they
        # roll forward over what the others appended (or, past the limit, look it up)
        stores = [open_store(url) for _ in range(3)]
        stores[0].init()
        rng = random.Random(7)
        claims: list[str] = []
        try:
            for turn in range(90):
                writer = stores[rng.randrange(3)]
                if not claims or rng.random() < 0.2:
                    claims.append(new_claim_id())
                    writer.append([recorded(claims[-1])], actor=ACTOR)
                elif turn % 30 == 29:  # more than an append rolls forward over
                    writer.append([note(rng.choice(claims)) for _ in range(ROLL_FORWARD_LIMIT + 1)],
                                  actor=ACTOR)
                else:
                    writer.append([note(rng.choice(claims)) for _ in range(rng.randint(1, 3))],
                                  actor=ACTOR)
            report = audit(stores[0])
            assert report.ok, report.failure
            assert report.events == stores[0].head()
            for claim in claims:
                events = stores[rng.randrange(3)].read_claim(claim)
                assert [e.version for e in events] == list(range(1, len(events) + 1))
                for previous, event in itertools.pairwise(events):
                    assert event.prev_hash == previous.leaf_hash
        finally:
            for store in stores:
                store.close()

    @pytest.mark.slow
    def test_a_reader_tailing_the_log_sees_every_position_exactly_once_and_in_order(
        self, store: EventStore, url: str
    ) -> None:
        stop, results = SPAWN.Event(), SPAWN.Queue()
        processes = [
            SPAWN.Process(target=_tail_writer_child, args=(url, n, stop, results)) for n in range(4)
        ]
        seen: list[int] = []
        problems: list[str] = []
        polls_with_news = 0
        final_head: list[int] = []
        reader_done = threading.Event()

        def tail() -> None:
            nonlocal polls_with_news
            last, versions = 0, {}
            pause = threading.Event()
            try:
                while not (final_head and last >= final_head[0]):
                    page = store.read_all(after=last, limit=500)
                    polls_with_news += bool(page)
                    for event in page:
                        if event.position != last + 1:
                            problems.append(f"after {last} came {event.position}")
                        if event.version != versions.get(event.claim_id, 0) + 1:
                            problems.append(f"{event.claim_id} v{event.version} out of order")
                        versions[event.claim_id] = event.version
                        last = event.position
                        seen.append(last)
                    if not page:
                        pause.wait(0.001)
            except BaseException as exc:
                problems.append(repr(exc))
            finally:
                reader_done.set()

        reader = threading.Thread(target=tail, daemon=True)
        with running(processes):
            started = [receive(results, 120, "the writers to start") for _ in processes]
            assert sorted(started) == [("started", n) for n in range(4)]
            reader.start()
            deadline = time.monotonic() + TAIL_SECONDS
            while time.monotonic() < deadline and not problems:
                assert all(p.is_alive() for p in processes), "a writer died"
                reader_done.wait(0.05)
            stop.set()
            reports = [receive(results, 120, "the writers to stop") for _ in processes]
        assert [r for r in reports if r[0] != "done"] == []
        final_head.append(store.head())
        wait_until(reader_done.is_set, 120, "the reader to catch up with the head")
        assert problems == []
        assert final_head[0] == sum(r[2] for r in reports)
        assert seen == list(range(1, final_head[0] + 1))
        assert polls_with_news >= 10, "the reader did not tail the writers while they wrote"

    # --- idempotency ---------------------------------------------------------------------
    def test_a_repeated_idempotency_key_with_the_same_request_returns_the_original_events(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        events = [recorded(claim), note(claim)]
        key = Idempotency("import-1", fingerprint({"events": "the request body"}))
        original = store.append(events, actor=ACTOR, idempotency=key, expected_versions={claim: 0})
        store.append([note(claim, "later")], actor=ACTOR)
        # a retry, stale expected version and all, returns what the first call wrote
        again = store.append(events, actor=ACTOR, idempotency=key, expected_versions={claim: 0})
        assert again == original
        assert store.head() == 3

    def test_a_repeated_idempotency_key_with_another_request_is_rejected(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        store.append([recorded(claim)], actor=ACTOR, idempotency=Idempotency("k", fingerprint(1)))
        with pytest.raises(IdempotencyConflict):
            store.append([note(claim)], actor=ACTOR, idempotency=Idempotency("k", fingerprint(2)))
        assert store.head() == 1

    def test_idempotency_keys_are_scoped_to_the_actor(self, store: EventStore) -> None:
        claim = new_claim_id()
        key = Idempotency("same-key", fingerprint("body"))
        first = store.append([recorded(claim)], actor="alice", idempotency=key)
        second = store.append([note(claim)], actor="bob", idempotency=key)
        assert (first[0].position, second[0].position) == (1, 2)
        assert store.append([note(claim)], actor="bob", idempotency=key) == second
        assert store.head() == 2

    # --- all or nothing --------------------------------------------------------------------
    def test_a_failing_event_in_the_middle_of_a_multi_claim_append_leaves_nothing(
        self, store: EventStore
    ) -> None:
        existing = new_claim_id()
        store.append([recorded(existing)], actor=ACTOR)
        a, b = new_claim_id(), new_claim_id()
        with pytest.raises(ClaimNotFound):
            store.append(
                [recorded(a), note(existing), note(new_claim_id()), recorded(b)], actor=ACTOR
            )
        with pytest.raises(ValidationFailed):
            store.append(
                [recorded(a), note(existing), recorded(existing), recorded(b)], actor=ACTOR
            )
        with pytest.raises(ConcurrencyConflict):
            store.append([recorded(a), note(existing)], actor=ACTOR,
                         expected_versions={a: 0, existing: 0})
        assert store.head() == 1
        assert store.read_claim(a) == store.read_claim(b) == []
        assert [e.version for e in store.read_claim(existing)] == [1]


    def test_a_database_error_in_the_middle_of_an_append_leaves_nothing(
        self, store: EventStore
    ) -> None:
        existing = new_claim_id()
        store.append([recorded(existing)], actor=ACTOR)
        a, b, c, duplicate = new_claim_id(), new_claim_id(), new_claim_id(), str(uuid.uuid4())
        events = [
            recorded(a),
            dataclasses.replace(recorded(b), id=duplicate),
            dataclasses.replace(recorded(c), id=duplicate),  # refused by the unique index on id
        ]
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's own error
            store.append(events, actor=ACTOR)
        assert not isinstance(caught.value, AssertionError)
        assert store.head() == 1
        assert store.read_claim(a) == store.read_claim(b) == []
        assert store.append([note(existing)], actor=ACTOR)[0].position == 2

    @pytest.mark.slow
    def test_a_writer_killed_while_holding_the_append_lock_leaves_none_of_its_append(
        self, store: EventStore, url: str
    ) -> None:
        self._kill_a_large_append(store, url, pause_after_insert=False)

    @pytest.mark.slow
    def test_a_writer_killed_after_inserting_its_rows_but_before_commit_leaves_nothing(
        self, store: EventStore, url: str
    ) -> None:
        self._kill_a_large_append(store, url, pause_after_insert=True)

    def _kill_a_large_append(
        self, store: EventStore, url: str, *, pause_after_insert: bool
    ) -> None:
        claim = new_claim_id()
        store.append([recorded(claim)], actor=ACTOR)
        results = SPAWN.Queue()
        writer = SPAWN.Process(
            target=_big_append_child,
            args=(self.writer_url(url), claim, BIG_APPEND, results, pause_after_insert),
        )
        with running([writer]):
            assert receive(results, 120, "the writer to start")[0] == "started"
            wait_until(lambda: self.append_lock_held(url), 120, "the writer to take the lock")
            if pause_after_insert:
                message = receive(results, 240, "the writer to insert its rows")
                assert message == ("inserted", BIG_APPEND)
                assert self.append_lock_held(url)
                assert store.head() == 1  # inserted, uncommitted, invisible
            os.kill(writer.pid or 0, signal.SIGKILL)
            writer.join(60)
        assert writer.exitcode == -signal.SIGKILL
        with pytest.raises(queue_module.Empty):
            results.get(timeout=0.5)  # in particular, never "committed"
        wait_until(lambda: not self.append_lock_held(url), 120, "the killed writer's lock to go")
        assert store.head() == 1
        assert [e.version for e in store.read_claim(claim)] == [1]
        assert self.raw_rows(url, "SELECT count(*) FROM payloads") == [(1,)]
        # and the store still works
        [after] = store.append([note(claim)], actor=ACTOR, expected_versions={claim: 1})
        assert (after.position, after.version) == (2, 2)

    # --- immutability ---------------------------------------------------------------------
    def test_the_database_itself_refuses_to_update_or_delete_the_log(
        self, store: EventStore, url: str
    ) -> None:
        claim = new_claim_id()
        records = store.append([recorded(claim), note(claim)], actor=ACTOR)
        for statement in self.refused_statements:
            with pytest.raises(Exception, match="append-only") as caught:
                self.raw_execute(url, statement)
            assert not isinstance(caught.value, AssertionError), statement
        assert store.read_all() == records

    # --- restore ---------------------------------------------------------------------------
    def _fill(self, store: EventStore) -> None:
        """A small but varied log: several claims, a void, a correction, unicode, metadata."""
        kerry, sherman = new_claim_id(), new_claim_id()
        store.append([recorded(kerry), recorded(sherman, "Sherman asked Araqchi.")], actor=ACTOR,
                     now=MONDAY)
        [mistake] = store.append([note(kerry, "Logged here by mistake ✓")], actor="editor-2",
                                 now=MONDAY + timedelta(hours=1))
        store.append([denied(kerry), corrected(kerry, mistake.id)], actor=ACTOR,
                     now=MONDAY + timedelta(hours=2))
        statement_fix = NewEvent(kerry, "EntryCorrected", validate_payload("EntryCorrected", {
            "target_event_id": store.read_claim(kerry)[0].id, "kind": "correction",
            "changes": {"statement": "Kerry asked Zarif, per Fars."}, "reason": "Attribution.",
        }))
        store.append([statement_fix, note(sherman)], actor=ACTOR, now=MONDAY + timedelta(days=1))
        for i in range(6):
            store.append([note(sherman, f"follow-up {i}")], actor=ACTOR,
                         idempotency=Idempotency(f"k{i}", fingerprint(i)))

    def test_restoring_an_export_into_an_empty_store_round_trips_byte_identically(
        self, store: EventStore, fresh_store: Callable[[], EventStore]
    ) -> None:
        self._fill(store)
        target = fresh_store()
        assert target.restore(export(store), batch=4) == store.head()
        assert export_bytes(target) == export_bytes(store)
        assert [json.dumps(e.to_json()) for e in target.iter_all()] == [
            json.dumps(e.to_json()) for e in store.iter_all()
        ]
        # and the restored store carries on the chain
        claim = store.read_all()[0].claim_id
        [event] = target.append([note(claim)], actor=ACTOR)
        assert event.prev_hash == target.read_claim(claim)[-2].leaf_hash

    def test_restoring_into_a_store_that_holds_events_raises_store_not_empty(
        self, store: EventStore, fresh_store: Callable[[], EventStore]
    ) -> None:
        self._fill(store)
        target = fresh_store()
        target.append([recorded(new_claim_id())], actor=ACTOR)
        with pytest.raises(StoreNotEmpty):
            target.restore(export(store))
        assert target.head() == 1

    @pytest.mark.parametrize("tamper", ["payload", "leaf_hash", "gap", "recorded_at", "prev_hash"])
    def test_restoring_a_tampered_export_names_the_position_and_writes_nothing(
        self, store: EventStore, fresh_store: Callable[[], EventStore], tamper: str
    ) -> None:
        self._fill(store)
        events = export(store)
        at = 7  # after a batch of 4 has already gone in
        victim = events[at - 1]
        if tamper == "payload":
            edited = {**(victim.data or {}), "text": "edited"}
            events[at - 1] = victim._replace(data=edited)
        elif tamper == "leaf_hash":
            events[at - 1] = victim._replace(leaf_hash="00" * 32)
        elif tamper == "gap":
            del events[at - 1]
        elif tamper == "recorded_at":
            events[at - 1] = victim._replace(recorded_at="2014-09-14T00:00:00.000000Z")
        else:
            events[at - 1] = victim._replace(prev_hash="11" * 32)
        target = fresh_store()
        with pytest.raises(IntegrityError, match=f"position {at}") as caught:
            target.restore(events, batch=4)
        assert caught.value.position in (at, at + 1)
        assert target.head() == 0
        assert target.read_all() == []

    # --- tokens -----------------------------------------------------------------------------
    def test_tokens_are_created_found_listed_revoked_and_logged(self, store: EventStore) -> None:
        def token(name: str, minute: int) -> TokenRecord:
            return TokenRecord(str(uuid.uuid4()), name, "editor",
                               format_time(MONDAY + timedelta(minutes=minute)), "admin")

        desk, audit = token("desk", 1), token("audit", 2)
        store.create_token(desk, "a" * 64)
        store.create_token(audit, "b" * 64)
        assert store.find_token("a" * 64) == desk
        assert store.find_token("c" * 64) is None
        assert store.list_tokens() == [desk, audit]
        revoked_at = format_time(MONDAY + timedelta(minutes=3))
        assert store.revoke_token(desk.id, actor="root", at=revoked_at) is True
        assert store.revoke_token(desk.id, actor="root", at=revoked_at) is False
        assert store.revoke_token(str(uuid.uuid4()), actor="root", at=revoked_at) is False
        assert store.find_token("a" * 64) is None
        assert store.list_tokens() == [
            dataclasses.replace(desk, revoked_at=revoked_at, revoked_by="root"), audit,
        ]
        assert store.token_log() == [
            {"token_id": desk.id, "action": "created", "actor": "admin", "at": desk.created_at},
            {"token_id": audit.id, "action": "created", "actor": "admin", "at": audit.created_at},
            {"token_id": desk.id, "action": "revoked", "actor": "root", "at": revoked_at},
        ]

    # --- desk sessions ---------------------------------------------------------------------
    def test_desk_sessions_are_found_until_deleted_or_expired(self, store: EventStore) -> None:
        alive = SessionRecord("a" * 64, "csrf-1", None, 1_000, 2_000)
        store.create_session("1" * 64, alive)
        assert store.find_session("1" * 64, 1_500) == alive
        assert store.find_session("1" * 64, 2_000) is None  # expired
        assert store.find_session("2" * 64, 1_500) is None
        store.set_session_notice("1" * 64, "Signed in.")
        noted = dataclasses.replace(alive, notice="Signed in.")
        assert store.find_session("1" * 64, 1_500) == noted
        assert store.delete_session("1" * 64) is True
        assert store.delete_session("1" * 64) is False
        assert store.find_session("1" * 64, 1_500) is None

    def test_a_new_desk_session_clears_the_expired_ones(self, store: EventStore) -> None:
        store.create_session("1" * 64, SessionRecord("a" * 64, "c", None, 1_000, 2_000))
        store.create_session("2" * 64, SessionRecord("a" * 64, "c", None, 2_500, 9_000))
        assert store.delete_session("1" * 64) is False  # removed when the later one began
        assert store.find_session("2" * 64, 2_600) is not None

    # --- processes -------------------------------------------------------------------------
    def test_a_forked_child_and_its_parent_can_use_the_store_at_the_same_time(
        self, store: EventStore
    ) -> None:
        claim = new_claim_id()
        store.append([recorded(claim)], actor=ACTOR)  # the parent's connections are open
        pid = os.fork()
        if pid == 0:  # the child (gunicorn forks workers like this): report by exit status
            code = 1
            try:
                for i in range(FORK_APPENDS):
                    store.append([note(claim, f"child {i}")], actor="child")
                store.close()
                code = 0
            finally:
                os._exit(code)
        for i in range(FORK_APPENDS):
            store.append([note(claim, f"parent {i}")], actor=ACTOR)
        [status] = wait_until(lambda: _reaped(pid), 120, "the forked child to exit")
        assert os.waitstatus_to_exitcode(status) == 0
        [last] = store.append([note(claim, "after the child left")], actor=ACTOR)
        events = store.read_claim(claim)
        assert [e.version for e in events] == list(range(1, 2 * FORK_APPENDS + 3))
        assert last.version == 2 * FORK_APPENDS + 2
        assert sorted(e.actor for e in events).count("child") == FORK_APPENDS
