"""``claimledger verify --all`` speed: an auditor replaying the whole log over HTTP.

Scenarios (events/s, higher is better): ``verify-all`` (``ledger.remote_replay.verify_all``
against ``claimledger serve --workers 2`` over a SQLite log, the way the CLI runs it),
beside the operator's own ``claimledger audit`` of the same store (the peer: it reads
the rows directly, no HTTP); ``verify-all-feed`` (paging through ``GET /v1/events`` and
parsing the JSON, no checks: what the feed alone costs) and ``verify-all-replay`` (the
checks of ``ledger.replay`` over pages already parsed: what the checks alone cost).
Aim: ``verify-all`` at 50,000 events/s or more.
Run: ``python -m bench.verify [--quick]`` (20,000 events; full: 200,000).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ledger import checkpoint as cp
from ledger.audit import audit
from ledger.log import LogService
from ledger.remote import RemoteLog
from ledger.remote_replay import PAGE, verify_all
from ledger.replay import Replay
from ledger.store import open_store

from .proofs import ORIGIN, build_log, serving


def _row(scenario: str, ours: float, peer: float | None = None,
         peer_name: str | None = None) -> dict[str, Any]:
    return {"scenario": scenario, "unit": "events/s", "ours": round(ours),
            "peer": None if peer is None else round(peer), "peer_name": peer_name,
            "ratio": None if peer is None else round(ours / peer, 2)}


def measure(events: int) -> list[dict[str, Any]]:
    """Build a log of ``events`` and time verify --all, the feed, the checks and audit."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=os.environ.get("BENCH_DIR", "var")))
    try:
        url, key_path = f"sqlite:///{tmp / 'log.db'}", tmp / "signing.key"
        store = open_store(url)
        try:
            build_log(store, events, claims=max(1, events // 10))
            service = LogService(store, cp.load_or_create_signing_key(key_path), ORIGIN)
            service.issue()
            key = service.verifier_key
            started = time.perf_counter()
            report = audit(store, key, batch=5000)
            audit_rate = report.events / (time.perf_counter() - started)
            assert report.ok, report.summary()
        finally:
            store.close()
        with serving(url, key_path) as base:
            log = RemoteLog(base)
            verify_all(log, key, page=PAGE)  # warm both workers and the page cache
            started = time.perf_counter()
            checked = verify_all(log, key, page=PAGE)
            verify_rate = checked.events / (time.perf_counter() - started)
            if not checked.result.ok or checked.events != events:
                raise RuntimeError(f"verify --all failed: {checked.result.summary()}")
            started = time.perf_counter()
            pages, after = [], 0
            while after < events:
                items = log.events(after, PAGE)
                pages.append(items)
                after = items[-1]["position"]
            feed_rate = events / (time.perf_counter() - started)
        started = time.perf_counter()
        replay = Replay()
        for items in pages:
            assert replay.feed(items) is None, replay.failure
        replay_rate = events / (time.perf_counter() - started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, rate in (("verify-all", verify_rate), ("verify-all-feed", feed_rate),
                       ("verify-all-replay", replay_rate), ("audit (local)", audit_rate)):
        print(f"{name}: {rate:,.0f} events/s", flush=True)
    peer = "claimledger audit (local store)"
    return [
        _row("verify-all", verify_rate, audit_rate, peer),
        _row("verify-all-feed", feed_rate, audit_rate, peer),
        _row("verify-all-replay", replay_rate, audit_rate, peer),
    ]


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """The verify scenarios; returns rows for scripts/bench."""
    del postgres  # the feed is read from SQLite; the replay does not touch a database
    return measure(20_000 if quick else 200_000)


def main(argv: list[str] | None = None) -> None:
    """Run and print the rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, help="log size (default 20,000 quick, 200,000)")
    args = parser.parse_args(argv)
    rows = measure(args.events) if args.events else run(args.quick, None)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
