"""The API SIGKILLed again and again while clients append with Idempotency-Keys and retry."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.clients import (
    Appender,
    Endpoint,
    acknowledged,
    all_acks,
    audit,
    check_log,
    kill_group,
    launch,
    serve_for_editors,
)
from tests.support.long import scaled
from tests.support.waiting import wait_until

CLIENTS = scaled(4, 6)
KILLS = scaled(3, 20)
#: pytest-timeout's limit for the test (the suite's default is 300 s)
TIMEOUT = scaled(300, 1800)
#: writes acknowledged between one restart and the next kill
BETWEEN_KILLS = scaled(25, 100)
#: how long a client may take to finish its current write once told to stop
WRITE_JOIN = 130.0


@pytest.mark.timeout(TIMEOUT)
def test_a_repeatedly_killed_api_loses_and_duplicates_no_idempotent_append(
    tmp_path: Path,
) -> None:
    server = serve_for_editors(tmp_path)
    port = urlsplit(server.url).port
    assert port is not None
    endpoint = Endpoint(server.url)
    clients = [Appender(f"client{n}", endpoint, server.tokens["editor"], 10**6)
               for n in range(CLIENTS)]
    recoveries: list[float] = []
    started = time.monotonic()
    try:
        for client in clients:
            client.start()
        for kill in range(KILLS):
            target = acknowledged(clients) + BETWEEN_KILLS
            wait_until(lambda target=target: acknowledged(clients) >= target
                       or any(c.failures for c in clients), 120, f"{target} acknowledged writes")
            assert not any(c.failures for c in clients), [c.failures for c in clients]
            before = acknowledged(clients)
            killed_at = time.monotonic()
            kill_group(server.process)
            server.process = launch(server.env, port, server.log)
            wait_until(lambda before=before: acknowledged(clients) > before, 60,
                       f"a write acknowledged after kill {kill + 1}")
            recoveries.append(time.monotonic() - killed_at)
        target = acknowledged(clients) + BETWEEN_KILLS
        wait_until(lambda: acknowledged(clients) >= target, 120, "writes after the last kill")
    finally:
        for client in clients:
            client.stop.set()
        for client in clients:
            client.join(timeout=WRITE_JOIN)
        server.stop()
    elapsed = time.monotonic() - started
    assert not any(c.is_alive() for c in clients), "a client is still retrying"
    assert [f for c in clients for f in c.failures] == []
    acks = all_acks(clients)
    store = server.store()
    try:
        log = check_log(store, acks)
    finally:
        store.close()
    assert log.duplicates == 0, log.events_per_key.most_common(5)
    assert log.missing == []
    assert log.gaps == []
    assert log.mismatched == []
    assert set(log.events_per_key) == set(acks), "an event in the log was never acknowledged"
    assert log.head == len(acks)
    transport_errors = sum(c.transport_errors for c in clients)
    assert transport_errors >= KILLS, "the kills never hit a client"
    result = audit(server)
    assert result.returncode == 0, result.stdout + result.stderr
    replayed = sum(1 for a in acks.values() if a.replayed)
    retried = sum(1 for a in acks.values() if a.tries > 1)
    print(f"\n{KILLS} kills of the whole gunicorn group, {len(acks)} appends by {CLIENTS}"
          f" clients in {elapsed:.1f}s: {retried} retried ({transport_errors} transport"
          f" errors, {sum(c.server_errors for c in clients)} 5xx), {replayed} answered by"
          f" an idempotent replay; duplicates {log.duplicates}, gaps {len(log.gaps)},"
          f" audit clean; first 201 after a kill within {min(recoveries):.2f}-"
          f"{max(recoveries):.2f}s (median {sorted(recoveries)[len(recoveries) // 2]:.2f}s)")
