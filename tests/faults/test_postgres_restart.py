"""PostgreSQL stopped (fast mode) and started again under a real ``claimledger serve``
while clients import: 503s with Retry-After while it is down, whole imports only, and the
same API processes serving again once it is back."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.errors import StoreUnavailable
from ledger.store.postgres import PostgresEventStore
from tests.faults.importers import (
    Importers,
    assert_only_201_or_503,
    assert_settled_log,
    serve_editor,
)
from tests.faults.postgres_cluster import PostgresCluster, unavailable_reason
from tests.support.long import scaled
from tests.support.waiting import wait_until

#: a 503 must come at once, not after the pool's 10 s wait for a connection
MAX_503_SECONDS = 3.0
#: the API must append again this soon after PostgreSQL accepts connections
MAX_RECOVERY_SECONDS = 5.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster (the shared one is never stopped); tests leave it up."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("LEDGER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with PostgresCluster() as running:
        yield running


def test_the_store_fails_fast_while_postgres_is_down_and_reconnects_once_it_is_back(
    cluster: PostgresCluster,
) -> None:
    store = PostgresEventStore(cluster.url + "?options=-csearch_path%3Dfails_fast", timeout=10)
    try:
        store.init()
        assert store.head() == 0
        cluster.stop("fast")
        try:
            for _ in range(4):  # the pooled connection is dead, then there is none to get
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    store.head()
                assert time.monotonic() - started < 1, "waited on the pool instead of failing"
        finally:
            cluster.start()
        up = time.monotonic()
        # the pool's own reconnect backoff would wait a second or more; a probe connects now
        wait_until(lambda: _answers(store), 1, "the store to answer after PostgreSQL started")
        assert time.monotonic() - up < 1
    finally:
        store.close()


def _answers(store: PostgresEventStore) -> bool:
    try:
        store.head()
    except StoreUnavailable:
        return False
    return True


def test_a_postgres_restart_mid_import_answers_503_and_the_same_api_recovers(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    cycles, down_for = scaled(1, 6), scaled(1, 5)
    server = serve_editor(tmp_path / "ledger", LEDGER_DATABASE_URL=cluster.url)
    try:
        with Importers(server, count=3) as importers:
            wait_until(lambda: len(importers.since(0, 201)) >= 10, 30, "imports to flow")
            recoveries = [outage(cluster, importers, down_for) for _ in range(cycles)]
        answers = importers.answers
        assert server.process.poll() is None, "the API exited"
        statuses = importers.statuses()
        assert_only_201_or_503(answers)
        slowest_503 = max(a.seconds for a in answers if a.status == 503)
        assert slowest_503 < MAX_503_SECONDS, f"a 503 took {slowest_503:.2f}s"
        assert max(recoveries) < MAX_RECOVERY_SECONDS, recoveries
        booted = server.log.read_text().count("Booting worker")
        assert booted == 2, f"gunicorn booted {booted} workers: a worker was restarted"
        facts = assert_settled_log(server, answers)
        print(
            f"\npostgres restart x{cycles} ({down_for}s down): {dict(statuses)},"
            f" slowest 503 {slowest_503:.3f}s, recovery after start"
            f" {max(recoveries):.2f}s max, log {facts.head} events in {facts.keys} imports"
        )
    finally:
        server.stop()


def outage(cluster: PostgresCluster, importers: Importers, down_for: float) -> float:
    """Stop PostgreSQL for ``down_for`` seconds mid-traffic; seconds until a 201 after start."""
    down = time.monotonic()
    cluster.stop("fast")
    wait_until(lambda: importers.since(down, 503), 30, "503s while PostgreSQL is down")
    wait_until(lambda: time.monotonic() - down >= down_for, down_for + 5, "the outage window")
    cluster.start()
    up = time.monotonic()
    wait_until(lambda: len(importers.since(up, 201)) >= 6, 60,
               "imports to succeed again without restarting the API")
    return min(a.finished for a in importers.since(up, 201)) - up
