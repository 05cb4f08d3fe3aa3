"""PostgreSQL crashed (``pg_ctl stop -m immediate``) at random instants under a real
``claimledger serve`` while clients append and import, then started again (crash recovery
from its WAL): after every restart each acknowledged write is in the log exactly once, no
write is there in part, positions are gap-free, ``claimledger audit`` passes, and no signed
checkpoint (stored, or handed to a client) is larger than the log or disagrees with it.

CI crashes it twice; ``scripts/test --long`` fifty times.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from ledger import checkpoint as cp
from ledger.audit import audit
from tests.faults.importers import (
    Answer,
    Importers,
    assert_only_201_or_503,
    assert_whole_imports,
    serve_editor,
    settle,
)
from tests.faults.postgres_cluster import PostgresCluster, unavailable_reason
from tests.support.clients import Appender, Endpoint, all_acks, check_log
from tests.support.long import scaled
from tests.support.server import Server
from tests.support.waiting import wait_until

#: a crash comes after 1 to this many more acknowledged writes
MAX_WRITES_BEFORE_CRASH = 12
#: the long run crashes 50 times (about 15 minutes on a loaded 2-core machine)
TIMEOUT = scaled(300, 3600)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster (the shared one is never crashed)."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("LEDGER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with PostgresCluster() as running:
        yield running


@dataclass
class CheckpointReader:
    """A thread fetching the served checkpoint over and over; every note it got is kept."""

    server: Server
    notes: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> CheckpointReader:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _run(self) -> None:
        with self.server.client() as client:
            while not self._stop.is_set():
                try:
                    answer = client.get("/v1/log/checkpoint")
                except httpx.TransportError:
                    continue
                if answer.status_code == 200:
                    self.notes.append(answer.text)
                elif answer.status_code != 503:
                    self.unexpected.append(f"{answer.status_code} {answer.text[:300]}")
                self._stop.wait(0.05)


@dataclass
class Tally:
    """What the crashes did, summed over the run."""

    crashes: int = 0
    answers: list[Answer] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)  # key -> events, once settled
    appended: int = 0
    served: set[str] = field(default_factory=set)
    stored: int = 0
    matched: set[tuple[int, bytes]] = field(default_factory=set)  # roots found in the log


@pytest.mark.timeout(TIMEOUT)
def test_postgres_crashed_at_random_instants_loses_and_forks_nothing(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    crashes = scaled(2, 50)
    # public read: the checkpoint reader needs no auditor token (each token is a CLI run)
    server = serve_editor(tmp_path / "ledger", LEDGER_DATABASE_URL=cluster.url,
                          LEDGER_CHECKPOINT_INTERVAL="0.2", LEDGER_PUBLIC_READ="1")
    key = httpx.get(f"{server.url}/v1/log/key", timeout=10).json()["verifier_key"]
    tally = Tally()
    rng = random.Random()
    try:
        for cycle in range(crashes):
            crash_once(cluster, server, tally, rng, cycle)
            check_after_restart(server, cluster, tally, key)
        assert server.process.poll() is None, "the API exited"
        booted = server.log.read_text().count("Booting worker")
        assert booted == 2, f"gunicorn booted {booted} workers: a worker was restarted"
    finally:
        server.stop()
    statuses = {s: sum(1 for a in tally.answers if a.status == s) for s in (201, 503)}
    print(f"\npostgres crashed x{tally.crashes}: imports {statuses}, appends acknowledged"
          f" {tally.appended}, log {sum(tally.expected.values())} events; lost 0, partial 0,"
          f" {len(tally.served)} served and {tally.stored} stored checkpoints, forked 0")


def crash_once(cluster: PostgresCluster, server: Server, tally: Tally, rng: random.Random,
               cycle: int) -> None:
    """Appends and imports flow; PostgreSQL is crashed at a random instant and started."""
    endpoint = Endpoint(server.url)
    appender = Appender(f"crash{cycle}", endpoint, server.tokens["editor"], count=10**6,
                        claim_every=3)
    with CheckpointReader(server) as reader, Importers(server, count=1) as importers:
        appender.start()
        try:
            began = time.monotonic()
            wait_until(lambda: len(importers.since(began, 201)) >= 3 and len(appender.acks) >= 2,
                       60, "appends and imports to flow")
            # a random instant: the writes in flight may be anywhere in their transactions
            target = written(importers, appender) + rng.randint(1, MAX_WRITES_BEFORE_CRASH)
            wait_until(lambda: written(importers, appender) >= target, 60, "more writes")
            cluster.stop("immediate")
            tally.crashes += 1
            cluster.start()
            up, acked = time.monotonic(), len(appender.acks)
            wait_until(lambda: len(importers.since(up, 201)) >= 3
                       and len(appender.acks) > acked, 60, "writes to succeed after the restart")
        finally:
            appender.stop.set()
            appender.join(180)
    assert not appender.failures, appender.failures[:3]
    assert not reader.unexpected, reader.unexpected[:3]
    assert_only_201_or_503(importers.answers)
    tally.answers += importers.answers
    tally.expected.update(settle(server, importers.answers))
    acks = all_acks([appender])
    tally.expected.update(dict.fromkeys(acks, 1))
    tally.appended += len(acks)
    log = server.store()
    try:
        check = check_log(log, acks)
    finally:
        log.close()
    assert not check.missing, check.missing[:3]
    assert [k for k in acks if check.events_per_key[k] != 1] == []
    assert not check.mismatched, check.mismatched[:3]
    tally.served.update(reader.notes)


def written(importers: Importers, appender: Appender) -> int:
    """Imports and appends acknowledged so far."""
    return len(importers.since(0, 201)) + len(appender.acks)


def check_after_restart(server: Server, cluster: PostgresCluster, tally: Tally,
                        key: str) -> None:
    """Every settled write there once and whole; audit clean; no checkpoint ahead or forked."""
    store = server.store()
    try:
        facts = assert_whole_imports(store, tally.expected)
        with psycopg.connect(cluster.url) as conn:
            stored = conn.execute("SELECT size, root FROM checkpoints").fetchall()
        handed = [cp.open_checkpoint(note, key) for note in tally.served]  # signature checked
        signed = {(c.size, c.root) for c in handed}
        signed |= {(size, bytes(root)) for size, root in stored}
        for size, root in sorted(signed):
            assert size <= facts.head, f"a checkpoint of size {size} is ahead of the log"
            # a root once found in the log stays there unless the log changed below it,
            # which the audit (the tree rebuilt from every event) would find
            if (size, root) not in tally.matched:
                assert store.root(size) == root, f"the checkpoint of size {size} forks the log"
                tally.matched.add((size, root))
        tally.stored = len(stored)
        report = audit(store, key)  # what `claimledger audit` runs
        assert report.failure is None, report.summary()
        assert report.head == facts.head
    finally:
        store.close()
