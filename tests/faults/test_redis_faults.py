"""Redis stopped, then back empty or back with its data, while clients append over HTTP.

The log is the truth and Redis only holds views: every append must get its 201 at the
first try whatever Redis does, and the views must come back to a fold of the log with
the same worker process and no operator action.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.clients import (
    Appender,
    Endpoint,
    acknowledged,
    all_acks,
    check_log,
    serve_for_editors,
)
from tests.support.long import scaled
from tests.support.redis_server import RedisServer
from tests.support.server import Server
from tests.support.waiting import wait_until
from tests.support.workers import FAST, Deployment, WorkerProcess
from workers.views import ViewReader, ViewsUnavailable

CYCLES = scaled(1, 4)
#: pytest-timeout's limit for the test (the suite's default is 300 s)
TIMEOUT = scaled(300, 1800)
CLIENTS = 3
#: writes acknowledged while Redis is down, and again once it is back
DURING = scaled(10, 60)


def _checkpoint(reader: ViewReader) -> int:
    try:
        return reader.checkpoint()
    except (ViewsUnavailable, OSError):
        return -1


@pytest.mark.timeout(TIMEOUT)
def test_appends_never_fail_and_the_views_recover_when_redis_restarts_empty_or_with_data(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    server = serve_for_editors(tmp_path / "ledger", LEDGER_REDIS_URL=redis.url, **FAST)
    worker = WorkerProcess(server.env, tmp_path / "worker.log").start()
    clients = [Appender(f"client{n}", Endpoint(server.url), server.tokens["editor"], 10**6)
               for n in range(CLIENTS)]
    try:
        recoveries = _outages(server, redis, worker, clients)
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            if client.ident is not None:
                client.join(timeout=30)
        worker.stop()
        server.stop()
        redis.stop()
    acks = all_acks(clients)
    assert [f for c in clients for f in c.failures] == []
    refused = [a.key for a in acks.values() if a.tries > 1]
    assert refused == [], f"{len(refused)} appends needed a retry"
    assert sum(c.transport_errors + c.server_errors for c in clients) == 0
    store = server.store()
    try:
        log = check_log(store, acks)
    finally:
        store.close()
    assert (log.duplicates, log.missing, log.gaps, log.mismatched) == (0, [], [], [])
    assert log.head == len(acks)
    slowest = max(a.seconds for a in acks.values())
    print(f"\n{CYCLES} x (Redis stopped then back empty, stopped then back with its data):"
          f" {len(acks)} appends by {CLIENTS} clients, every one a 201 at the first try"
          f" (slowest {slowest:.2f}s); views at the head again"
          + "".join(f", {kind} within {max(times):.1f}s" for kind, times in recoveries.items())
          + "; views equal a fold of the log, same worker process")


def _outages(server: Server, redis: RedisServer, worker: WorkerProcess,
             clients: list[Appender]) -> dict[str, list[float]]:
    """Stop Redis and bring it back, empty and with its data, ``CYCLES`` times while the
    clients append; returns the seconds the views took to reach the head each time."""
    db_path = Path(server.env["LEDGER_DATABASE_URL"].removeprefix("sqlite:///"))
    views = Deployment(db_path.parent, db_path, redis)
    reader = ViewReader(redis.client())
    recoveries: dict[str, list[float]] = {"empty": [], "with its data": []}
    wait_until(lambda: _checkpoint(reader) == 0, 60, f"the views (see {worker.log_path})")
    for client in clients:
        client.start()
    for _ in range(CYCLES):
        for kind, keep in (("empty", False), ("with its data", True)):
            redis.stop(save=keep)
            target = acknowledged(clients) + DURING
            wait_until(lambda target=target: acknowledged(clients) >= target, 60,
                       f"{DURING} writes with Redis down")
            assert _checkpoint(reader) == -1
            redis.start(port=redis.port)
            back = time.monotonic()
            head = server.head()
            try:
                wait_until(lambda head=head: _checkpoint(reader) >= head, 60,
                           f"the views to reach {head} after Redis came back {kind}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{views_log(worker)}") from None
            recoveries[kind].append(time.monotonic() - back)
            target = acknowledged(clients) + DURING
            wait_until(lambda target=target: acknowledged(clients) >= target, 60,
                       f"{DURING} writes with Redis back")
    for client in clients:
        client.stop.set()
    for client in clients:
        client.join(timeout=30)
    views.wait_for_views(timeout=60)
    assert worker.process is not None
    assert worker.process.poll() is None, "the worker outlives Redis restarts"
    return recoveries


def views_log(worker: WorkerProcess) -> str:
    """The end of the worker's log, to explain a failure."""
    return worker.log_path.read_text(errors="replace")[-3000:]
