"""``claimledger verify --all`` speed: an auditor replaying the whole log over HTTP.

Scenarios (events/s, higher is better): ``verify-all`` (``ledger.remote_replay.verify_all``
against ``claimledger serve --workers 2`` over a SQLite log, the way the CLI runs it),
beside the operator's own ``claimledger audit`` of the same store (the peer: it reads
the rows directly, no HTTP); ``verify-all-feed`` (paging through ``GET /v1/events`` and
parsing the JSON, no checks: what the feed alone costs) and ``verify-all-replay`` (the
checks of ``ledger.replay`` over pages already parsed: what the checks alone cost).
Aim: ``verify-all`` at 50,000 events/s or more. Beside the rates, the CPU time the
verifier (this process) and the server (its processes) spent per event during the
``verify-all`` run (``verify-all-client-cpu``, ``verify-all-server-cpu``): on a machine
shared with other work the rate measures the neighbours too, the CPU time much less.
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


def _descendants_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's descendants still
    running (the server's gunicorn master and workers), from /proc; 0 where there is none."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
        times[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


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
            started, cpu, served = time.perf_counter(), time.process_time(), _descendants_cpu()
            checked = verify_all(log, key, page=PAGE)
            verify_rate = checked.events / (time.perf_counter() - started)
            client_us = (time.process_time() - cpu) / checked.events * 1e6
            server_us = (_descendants_cpu() - served) / checked.events * 1e6
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
    # what the wall-clock rate cannot show on a shared machine: the CPU each side spent
    print(f"verify-all CPU per event: client {client_us:.1f} us, server {server_us:.1f} us"
          f" (load average {os.getloadavg()[0]:.1f})", flush=True)
    peer = "claimledger audit (local store)"
    return [
        _row("verify-all", verify_rate, audit_rate, peer),
        {"scenario": "verify-all-client-cpu", "unit": "us/event", "ours": round(client_us, 1),
         "peer": None, "peer_name": None, "ratio": None},
        {"scenario": "verify-all-server-cpu", "unit": "us/event", "ours": round(server_us, 1),
         "peer": None, "peer_name": None, "ratio": None},
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
