"""What a Redis outage costs the write path: appends and claim reads with Redis up, hung and
dead.

The API writes to the log and only then tells Redis (the live feed's publish, the views'
catch-up trigger); with Redis hung (SIGSTOPped: connections open, nothing answers) or dead
(connections refused) appends must still be quick and a claim is folded from the log.
tests/integration/test_api_views.py checks that they work; how long they take is measured
here: the app in-process (Flask's test client) on a SQLite file and a private redis-server.

Scenarios (ms): ``outage-append-up-p50`` (one append, Redis up); ``outage-append-hung-first-3``
and ``outage-append-dead-first-3`` (the first three appends once Redis stops answering, which
pay for finding that out); ``outage-append-hung-p50`` and ``outage-append-dead-p50``;
``outage-claim-read-dead-p50`` and ``-max`` (claim reads, from the log, with Redis dead).
Run: ``python -m bench.outage [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger import checkpoint as cp
from tests.support.api_harness import CLAIM, ApiHarness, body
from tests.support.redis_server import RedisServer


def _row(scenario: str, ours: float) -> dict[str, Any]:
    return {"scenario": scenario, "unit": "ms", "ours": round(ours, 1), "peer": None,
            "peer_name": None, "ratio": None}


def _timed(action: Callable[[], Any], count: int) -> list[float]:
    """``action`` run ``count`` times; the ms each took."""
    took = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        took.append((time.perf_counter() - started) * 1000)
    return took


def measure(appends: int, directory: Path) -> list[dict[str, Any]]:
    """Every scenario, ``appends`` appends a phase."""
    server = RedisServer(directory / "redis").start()
    try:
        key = directory / "signing.key"  # a deployment's: the append hook checkpoints
        cp.load_or_create_signing_key(key)
        api = ApiHarness.create(directory, REDIS_URL=server.url, SIGNING_KEY=key)
        last: list[str] = []

        def append() -> None:
            response = api.post("/v1/claims", body(CLAIM, tags=["outage"]))
            assert response.status_code == 201, response.get_json()
            last[:] = [response.get_json()["claim_id"]]

        def read() -> None:
            response = api.client.get(f"/v1/claims/{last[0]}", headers=api.auth("reader"))
            assert response.status_code == 200, response.get_json()
            assert response.headers["X-Ledger-Source"] == "log"

        _timed(append, 10)  # warm up: first requests, connections, caches
        up = _timed(append, appends)
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            hung = _timed(append, appends)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
        dead = _timed(append, appends)
        reads = _timed(read, appends)
    finally:
        server.stop()
    return [
        _row("outage-append-up-p50", statistics.median(up)),
        _row("outage-append-hung-first-3", sum(hung[:3])),
        _row("outage-append-hung-p50", statistics.median(hung)),
        _row("outage-append-dead-first-3", sum(dead[:3])),
        _row("outage-append-dead-p50", statistics.median(dead)),
        _row("outage-claim-read-dead-p50", statistics.median(reads)),
        _row("outage-claim-read-dead-max", max(reads)),
    ]


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """The harness's entry point (SQLite only: the outage is Redis's, not the store's)."""
    base = os.environ.get("BENCH_DIR", "var")
    os.makedirs(base, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as scratch:
        rows = measure(30 if quick else 300, Path(scratch))
    load = os.getloadavg()[0]
    for row in rows:
        print(f"{row['scenario']}: {row['ours']} ms (load average {load:.1f})", flush=True)
    return rows


def main() -> None:
    """``python -m bench.outage``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, None), indent=2))


if __name__ == "__main__":
    main()
