"""Views benchmarks with a real redis-server and one real ``claimledger worker``.

Scenarios: ``catch-up`` (events/s a worker folds into the views after an import, from
the trigger to the checkpoint reaching the head), ``rebuild-1m`` (seconds to build a
new generation of a 1,000,000-event log beside the live one and switch; ``--quick``
uses 100,000 events; ``rebuild-1m-cpu`` is the CPU seconds the same rebuild's Python
costs, run in this process, which a loaded machine moves far less than the wall clock)
and ``lag-p99`` (ms from an append's commit to the views showing it, at a steady 100
appends/s, each append followed by the trigger the API sends).
Run: ``python -m bench.views [--quick] [--only catch-up,rebuild,lag] [--json FILE]``;
logs are cached in BENCH_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.registry import StartedJobRegistry

from ledger.envelope import NewEvent
from ledger.store import EventStore, open_store
from tests.support.redis_server import RedisServer
from workers.config import REBUILD_QUEUE, ViewConfig
from workers.coordination import job_info, request_catch_up, start_rebuild
from workers.rebuild import open_configured_store
from workers.rebuild import rebuild as rebuild_views
from workers.synthetic import fill_store
from workers.views import ViewReader, ViewsUnavailable

ROOT = Path(__file__).resolve().parents[1]


def _row(scenario: str, unit: str, ours: float) -> dict[str, Any]:
    return {"scenario": scenario, "unit": unit, "ours": ours, "peer": None,
            "peer_name": None, "ratio": None}


def _wait(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.005) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(every)


class Bench:
    """A private Redis, a store and worker processes for one scenario."""

    def __init__(self, directory: Path, db: Path | str, tick: float = 3600) -> None:
        self.directory, self.tick = directory, tick
        self.server = RedisServer(directory / "redis").start()
        self.redis: Redis = self.server.client()
        url = db if isinstance(db, str) else f"sqlite:///{db}"
        self.config = ViewConfig(database_url=url)
        #: extra LEDGER_* settings of the workers it starts (e.g. LEDGER_SEARCH)
        self.settings: dict[str, str] = {}
        self.reader = ViewReader(self.redis)
        self.worker: subprocess.Popen[bytes] | None = None

    def start_worker(self) -> None:
        """Start one ``claimledger worker`` and wait until it listens."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update(LEDGER_DATABASE_URL=self.config.database_url, LEDGER_REDIS_URL=self.server.url,
                   LEDGER_VIEWS_TICK_SECONDS=str(self.tick), PYTHONPATH=str(ROOT),
                   LEDGER_DATA_DIR=str(self.directory), **self.settings)
        log = (self.directory / "worker.log").open("ab")
        self.worker = subprocess.Popen(
            [sys.executable, "-c", "from api.cli import main; main()", "worker"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        _wait(lambda: Worker.count(connection=self.redis) > 0, 60, "the worker", 0.05)

    def stop_worker(self) -> None:
        """Stop the worker (SIGTERM, then SIGKILL) and forget its registration."""
        if self.worker is None:
            return
        try:
            os.killpg(self.worker.pid, signal.SIGTERM)
            self.worker.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)
        self.worker = None
        _wait(lambda: Worker.count(connection=self.redis) == 0, 30, "the worker to leave", 0.05)

    def checkpoint(self) -> int:
        """The views' checkpoint, -1 while there are none."""
        try:
            return self.reader.checkpoint()
        except ViewsUnavailable:
            return -1

    def rebuild(self, timeout: float) -> float:
        """Seconds from asking for a rebuild to the new generation being live."""
        started = time.perf_counter()
        job_id = start_rebuild(self.redis, self.config, reason="bench")

        def done() -> bool:
            info = job_info(self.redis, job_id)
            if info and info["status"] == "failed":
                raise RuntimeError(f"rebuild failed: {info['error']}")
            return bool(info and info["status"] == "finished")

        _wait(done, timeout, "the rebuild", 0.02)
        return time.perf_counter() - started

    def settle(self, timeout: float) -> float:
        """Wait until no rebuild job is queued or running (a views build queues the search
        index's first build behind it); the seconds waited."""
        started = time.perf_counter()
        queue = Queue(REBUILD_QUEUE, connection=self.redis)
        running = StartedJobRegistry(queue=queue)
        _wait(lambda: queue.count == 0 and running.count == 0, timeout, "the rebuild queue",
              0.05)
        return time.perf_counter() - started

    def close(self) -> None:
        """Stop everything this bench started."""
        self.stop_worker()
        self.server.stop()


def build_log(path: Path, events: int, seed: int = 1) -> int:
    """A synthetic log of ``events`` events, cached between runs; returns its head."""
    marker = path.with_suffix(".json")
    if path.exists() and marker.exists():
        cached = json.loads(marker.read_text())
        if cached.get("events") == events and cached.get("seed") == seed:
            store = open_store(f"sqlite:///{path}")
            store.init()  # migrate a log cached by an older version
            store.close()
            return int(cached["head"])
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    store = open_store(f"sqlite:///{path}")
    store.init()
    started = time.perf_counter()
    head = fill_store(store, events // 4, seed=seed, batch=10_000, limit=events)
    store.close()
    print(f"  built a {head:,}-event log in {time.perf_counter() - started:.0f}s", flush=True)
    marker.write_text(json.dumps({"events": events, "seed": seed, "head": head}))
    return head


def catch_up(work: Path, claims: int) -> float:
    """Events/s one worker applies after an import made while it was stopped."""
    db = work / "catch-up.db"
    store = open_store(f"sqlite:///{db}")
    store.init()
    fill_store(store, 200, seed=2)
    bench = Bench(work / "catch-up", db)
    try:
        bench.start_worker()
        request_catch_up(bench.redis, bench.config)
        _wait(lambda: bench.checkpoint() == store.head(), 120, "the first views")
        bench.stop_worker()
        before = store.head()
        head = fill_store(store, claims, seed=3, batch=10_000)
        bench.start_worker()
        started = time.perf_counter()
        request_catch_up(bench.redis, bench.config)
        _wait(lambda: bench.checkpoint() == head, 600, "the catch-up")
        elapsed = time.perf_counter() - started
    finally:
        bench.close()
    rate = (head - before) / elapsed
    print(f"  catch-up: {head - before:,} events in {elapsed:.2f}s = {rate:,.0f} events/s",
          flush=True)
    return rate


def rebuild(work: Path, cache: Path, events: int) -> tuple[float, float, int]:
    """Seconds one worker takes to rebuild the views of a big log beside the live ones."""
    db = cache / f"views-log-{events}.db"
    head = build_log(db, events)
    bench = Bench(work / "rebuild", db)
    try:
        bench.start_worker()
        first = bench.rebuild(900)
        print(f"  first build of {head:,} events: {first:.1f}s", flush=True)
        # a log without a search index gets its first build queued behind the views'
        # first one; timed from here, that build would count as part of the rebuild
        waited = bench.settle(900)
        if waited > 0.5:
            print(f"  waited {waited:.1f}s for the search index's first build", flush=True)
        seconds = bench.rebuild(900)
        print(f"  rebuild beside the live views: {seconds:.1f}s ({head / seconds:,.0f} events/s)",
              flush=True)
        bench.stop_worker()
        cpu = rebuild_cpu(bench)
    finally:
        bench.close()
    return seconds, cpu, head


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc), 0 elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rebuild_cpu(bench: Bench) -> float:
    """CPU seconds of one more rebuild beside the live views, run in this process (no
    worker, no queue): what the rebuild's Python costs, which load moves little."""
    store = open_configured_store(bench.config)
    server = bench.server.process.pid if bench.server.process else 0
    try:
        redis_before, wall = _cpu_seconds(server), time.perf_counter()
        cpu = time.process_time()
        result = rebuild_views(bench.redis, store, bench.config, f"bench-{uuid.uuid4()}")
        cpu = time.process_time() - cpu
        wall, redis_cpu = time.perf_counter() - wall, _cpu_seconds(server) - redis_before
    finally:
        store.close()
    if result is None:
        raise RuntimeError("the in-process rebuild found another rebuild running")
    print(f"  the same rebuild in this process: {cpu:.2f} CPU s ({wall:.1f}s wall;"
          f" redis-server {redis_cpu:.2f} CPU s; load average {os.getloadavg()[0]:.1f})",
          flush=True)
    return cpu


def lag(work: Path, seconds: float, rate: float = 100.0) -> dict[str, float]:
    """Append-commit to visible-in-views latency at a steady append rate."""
    db = work / "lag.db"
    store = open_store(f"sqlite:///{db}")
    store.init()
    fill_store(store, 1000, seed=4)
    bench = Bench(work / "lag", db, tick=1)
    try:
        bench.start_worker()
        request_catch_up(bench.redis, bench.config)
        _wait(lambda: bench.checkpoint() == store.head(), 120, "the first views")
        return probe_lag(bench, store, seconds, rate)
    finally:
        bench.close()


def probe_lag(bench: Bench, store: EventStore, seconds: float, rate: float = 100.0,
              seed: int = 5) -> dict[str, float]:
    """Append a note to a random claim ``rate`` times a second for ``seconds`` (each with
    the API's trigger) and time each from its commit to the views' checkpoint passing it."""
    claims = sorted({e.claim_id for e in store.read_all(0, 100_000)})
    committed: dict[int, float] = {}
    visible: dict[int, float] = {}
    stop = threading.Event()

    def watch() -> None:
        seen = bench.checkpoint()
        while not stop.is_set():
            cp = bench.checkpoint()
            now = time.perf_counter()
            if cp > seen:
                for position in range(seen + 1, cp + 1):
                    visible.setdefault(position, now)
                seen = cp
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        rng = random.Random(seed)
        started = time.perf_counter()
        count = int(seconds * rate)
        for i in range(count):
            due = started + i / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            note = NewEvent(rng.choice(claims), "NoteAdded", {"text": f"lag probe {i}"})
            [event] = store.append([note], actor="bench")
            committed[event.position] = time.perf_counter()
            request_catch_up(bench.redis, bench.config)
        achieved = count / (time.perf_counter() - started)
        last = max(committed)
        _wait(lambda: last in visible, 30, "the last append to show")
    finally:
        stop.set()
        watcher.join(timeout=5)
    lags = sorted((visible[p] - t) * 1000 for p, t in committed.items())
    result = {
        "p50": statistics.median(lags),
        "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
        "max": lags[-1],
        "rate": achieved,
        "samples": len(lags),
    }
    print(f"  lag at {achieved:.0f} appends/s over {len(lags)} appends: p50 {result['p50']:.1f} ms,"
          f" p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms", flush=True)
    return result


#: the scenarios ``run`` can be limited to
SCENARIOS = ("catch-up", "rebuild", "lag")


def run(quick: bool, postgres: str | None = None,
        only: tuple[str, ...] = SCENARIOS) -> list[dict[str, Any]]:
    """The views scenarios (all, or ``only`` these); rows for the harness (``postgres`` is
    unused)."""
    base = Path(os.environ.get("BENCH_DIR", "var"))
    base.mkdir(parents=True, exist_ok=True)
    cache = base / "bench-views"
    cache.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-views-", dir=base))
    catch_claims, rebuild_events, lag_seconds = (
        (10_000, 100_000, 6.0) if quick else (40_000, 1_000_000, 30.0)
    )
    rows: list[dict[str, Any]] = []
    try:
        if "catch-up" in only:
            rows.append(_row("catch-up", "events/s", round(catch_up(work, catch_claims))))
        if "rebuild" in only:
            seconds, cpu, head = rebuild(work, cache, rebuild_events)
            # the name is fixed (--json consumers key on it); the unit says what was rebuilt
            rows.append(_row("rebuild-1m", f"s for {head:,} events", round(seconds, 1)))
            rows.append(_row("rebuild-1m-cpu", f"CPU s for {head:,} events, in process",
                             round(cpu, 2)))
        if "lag" in only:
            result = lag(work, lag_seconds)
            unit = f"ms at {result['rate']:.0f} appends/s"
            rows.append(_row("lag-p99", unit, round(result["p99"], 1)))
            rows.append(_row("lag-p50", unit, round(result["p50"], 1)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the views scenarios alone and print their rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about 2 minutes")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios of {', '.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    only = tuple(args.only.split(","))
    if unknown := set(only) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}")
    rows = run(args.quick, only=only)
    print()
    print("| scenario | unit | ours |")
    print("|---|---|---:|")
    for r in rows:
        print(f"| {r['scenario']} | {r['unit']} | {r['ours']:,} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
