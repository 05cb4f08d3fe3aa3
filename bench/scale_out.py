"""``scale-out``: appends/s and p99 through one and through two ``claimledger serve``
instances on one PostgreSQL log, and how much of an append is spent waiting for the
append advisory lock.

Each instance runs ``serve --workers 2`` (as shipped) over the same fresh PostgreSQL
database (its own, so no other user of the server takes the lock), with Redis and one
views worker, as deployed. Writer processes append notes, each writer thread to one
instance (two instances: half the threads each, as a load balancer would spread them).
A third configuration, one instance of 4 workers, has as many processes as the two
instances: it tells the cost of a second host from the cost of more processes on this
machine. While each runs, a sampler reads ``pg_locks`` every ``SAMPLE`` seconds and
counts the sessions holding and waiting for the append lock
(``pg_advisory_xact_lock(APPEND_LOCK_KEY)``). Reported per configuration: appends/s,
append p50/p99, the share of samples with at least one waiter, the share of an append's
time spent waiting for the lock (Little's law: mean waiters / appends per second is the
mean wait; divided by the mean append latency), and how long the lock is held per
append (the share of samples it is held / appends per second). When the lock is held in
nearly every sample, appends/s cannot exceed 1 / that hold time, however many hosts.
Last, processes append straight through ``EventStore.append`` (no HTTP): one, one whose
sessions do not wait for the commit's WAL flush (``synchronous_commit=off``, for this
measurement only), and four: the lock is held until the commit is flushed, so the flush
is part of every append's hold time. Then one and four processes again without the
flush wait but with the database 1 ms away each way (``bench.delay_proxy``), where the
round trips made under the lock set the ceiling.

Run: ``python -m bench.scale_out [--quick] --postgres URL`` (quick: 8 s a configuration,
about 2 minutes; full: 30 s, about 4). Without PostgreSQL the scenario reports nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ledger.store.postgres import APPEND_LOCK_KEY
from tests.support.redis_server import RedisServer

from .delay_proxy import delayed
from .http import free_port
from .newsroom import CLI, _serve, _stop
from .newsroom_clients import NOTE, call

#: claims the writers spread their notes over
CLAIMS = 40
#: seconds between two samples of pg_locks
SAMPLE = 0.02
#: writer threads in each of the two writer processes
THREADS = 8
ORIGIN = "scale-out.bench/log"
#: (label, instances, gunicorn workers each): one instance as shipped, two of them, and
#: one instance with as many workers as the two have (more processes, one host)
CONFIGS = [("one", 1, 2), ("two", 2, 2), ("one x4", 1, 4)]
#: seconds each way to the "remote" database of the last measurement
REMOTE = 0.001

# an advisory lock on a bigint key shows in pg_locks as classid (high 32 bits) and objid
# (low 32 bits) with objsubid 1
_LOCKS = (
    "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) FROM pg_locks"
    " WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def writers(ports: list[int], token: str, claims: list[str], first: int, seconds: float,
            out: Connection) -> None:
    """``THREADS`` threads appending notes for ``seconds``, thread ``n`` to
    ``ports[(first + n) % len(ports)]``; sends (latencies, errors)."""
    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def write(n: int) -> None:
        port = ports[(first + n) % len(ports)]
        i = first + n
        while time.monotonic() < stop:
            path = f"/v1/claims/{claims[i % len(claims)]}/notes"
            i += THREADS
            began = time.perf_counter()
            try:
                status, _ = call(port, "POST", path, token, NOTE)
            except OSError:
                errors[0] += 1
                continue
            if status == 201:
                latencies.append(time.perf_counter() - began)
            else:
                errors[0] += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send((latencies, errors[0]))


class LockSampler(threading.Thread):
    """Counts the append lock's holders and waiters every ``SAMPLE`` seconds."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.samples: list[tuple[int, int]] = []  # (holding, waiting)
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg

        key = (APPEND_LOCK_KEY >> 32, APPEND_LOCK_KEY & 0xFFFFFFFF)
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(SAMPLE):
                held, waiting = conn.execute(_LOCKS, key).fetchone() or (0, 0)
                self.samples.append((int(held), int(waiting)))


def measure(setup: dict[str, Any], instances: int, workers: int,
            seconds: float) -> dict[str, Any]:
    """The load through ``instances`` instances of ``workers`` gunicorn workers each for
    ``seconds``; its figures."""
    ports = [free_port() for _ in range(instances)]
    servers = [_serve(setup["env"], port, ["--workers", str(workers)],
                      setup["dir"] / f"serve{n}.log") for n, port in enumerate(ports)]
    ctx = multiprocessing.get_context("fork")
    sampler = LockSampler(setup["url"])
    try:
        pipes = [ctx.Pipe(duplex=False) for _ in range(2)]
        procs = [ctx.Process(target=writers, args=(
            ports, setup["token"], setup["claims"], n * THREADS, seconds, pipes[n][1]))
            for n in range(2)]
        sampler.start()
        for proc in procs:
            proc.start()
        latencies: list[float] = []
        errors = 0
        for receiving, _ in pipes:
            got, failed = receiving.recv()
            latencies += got
            errors += failed
        for proc in procs:
            proc.join()
    finally:
        sampler.stop.set()
        sampler.join(10)
        for server in servers:
            _stop(server)
    samples = sampler.samples or [(0, 0)]
    rate = len(latencies) / seconds
    mean_waiters = sum(w for _, w in samples) / len(samples)
    mean_latency = sum(latencies) / len(latencies) if latencies else math.nan
    mean_wait = mean_waiters / rate if rate else math.nan  # Little's law
    return {
        "appends/s": rate, "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
        "errors": errors, "samples": len(samples),
        "waiter share": sum(1 for _, w in samples if w) / len(samples),
        "held share": sum(1 for h, _ in samples if h) / len(samples),
        "mean waiters": mean_waiters, "mean wait": mean_wait,
        "wait share": mean_wait / mean_latency if latencies else math.nan,
        # the lock as a server: busy share = appends/s x hold time per append
        "hold": (sum(1 for h, _ in samples if h) / len(samples)) / rate if rate else math.nan,
    }


def _appender(url: str, claims: list[str], first: int, step: int, seconds: float,
              out: Connection) -> None:
    """Append one note at a time straight through the store for ``seconds``; send the count."""
    from ledger.envelope import NewEvent
    from ledger.store import open_store

    store = open_store(url)
    count, i = 0, first
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        store.append([NewEvent(claims[i % len(claims)], "NoteAdded", {"text": "direct"})],
                     actor="bench")
        i += step
        count += 1
    store.close()
    out.send(count)


def direct(setup: dict[str, Any], processes: int, synchronous: bool,
           seconds: float, latency: float = 0.0) -> float:
    """Appends/s of ``processes`` processes appending through ``EventStore.append`` (no
    HTTP); with ``synchronous`` off, a commit does not wait for its WAL flush (this
    bench's sessions only: ``synchronous_commit=off``), which shows what the flush costs
    while the lock is held; with ``latency``, every packet to and from PostgreSQL is
    delayed that long each way (``bench.delay_proxy``: a database on another host)."""
    url = setup["url"]
    if not synchronous:
        url += ("&" if "?" in url else "?") + "options=-csynchronous_commit%3Doff"
    if latency:
        parts = urlsplit(url)
        with delayed(parts.port or 5432, latency) as port:
            netloc = f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:{port}".lstrip("@")
            return direct({**setup, "url": urlunsplit(parts._replace(netloc=netloc))},
                          processes, True, seconds)
    ctx = multiprocessing.get_context("fork")
    pipes = [ctx.Pipe(duplex=False) for _ in range(processes)]
    procs = [ctx.Process(target=_appender, args=(url, setup["claims"], n, processes, seconds,
                                                 pipes[n][1])) for n in range(processes)]
    for proc in procs:
        proc.start()
    total = sum(receiving.recv() for receiving, _ in pipes)
    for proc in procs:
        proc.join()
    return total / seconds


def _database(base: str) -> tuple[str, str]:
    """A fresh database on the server of ``base``: (its name, its URL)."""
    import psycopg

    name = "bench_scale_out_" + secrets.token_hex(4)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a fixed-shape name of hex digits
    return name, urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def _prepare(tmp: Path, url: str, redis_url: str) -> dict[str, Any]:
    """The ledger initialised on ``url``, an editor token and claims to annotate."""
    from api import credentials as api_tokens
    from ledger.store import open_store

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PROMETHEUS_"))}
    env.update(LEDGER_DATA_DIR=str(tmp / "host"), LEDGER_DATABASE_URL=url,
               LEDGER_REDIS_URL=redis_url, LEDGER_RATE_LIMIT="off", LEDGER_LOG_ORIGIN=ORIGIN,
               LEDGER_SECRET_KEY=secrets.token_hex(32))
    subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True)
    store = open_store(url)
    token = api_tokens.create(store, name="bench-editor", role="editor", created_by="bench")[1]
    store.close()
    port = free_port()
    server = _serve(env, port, ["--workers", "2"], tmp / "prepare.log")
    try:
        claims = [json.loads(call(port, "POST", "/v1/claims", token, json.dumps({
            "statement": f"Iran is building two new plants at Bushehr ({n}).",
            "claimant": {"name": "Ali Khamenei"},
            "appearance": {"outlet": "Fars News Agency"}}).encode())[1])["claim_id"]
            for n in range(CLAIMS)]
    finally:
        _stop(server)
    return {"env": env, "dir": tmp, "url": url, "token": token, "claims": claims}


def _summary(name: str, figures: dict[str, Any]) -> str:
    return (f"{name:<12} appends {figures['appends/s']:>6.0f}/s  p50 {figures['p50'] * 1000:6.1f}"
            f" p99 {figures['p99'] * 1000:7.1f} ms  lock waiter in {figures['waiter share']:.0%}"
            f" of {figures['samples']} samples (held in {figures['held share']:.0%}), mean"
            f" waiters {figures['mean waiters']:.2f}, wait {figures['mean wait'] * 1000:.1f} ms"
            f" = {figures['wait share']:.0%} of an append, held {figures['hold'] * 1000:.1f} ms"
            " per append"
            + (f"  errors {figures['errors']}" if figures["errors"] else ""))


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """One instance, then two, on one fresh PostgreSQL database; rows."""
    if not postgres:
        print("scale-out needs PostgreSQL (--postgres or LEDGER_TEST_POSTGRES_URL): skipped")
        return []
    seconds = 8.0 if quick else 30.0
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-out-",
                                dir=os.environ.get("BENCH_DIR", "var")))
    name, url = _database(postgres)
    redis = RedisServer(tmp / "redis").start()
    worker = None
    try:
        setup = _prepare(tmp, url, redis.url)
        worker = subprocess.Popen([*CLI, "worker"], env=setup["env"], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = {}
        for label, instances, workers in CONFIGS:
            results[label] = measure(setup, instances, workers, seconds)
            print(_summary(label, results[label]), flush=True)
        flushes = {(n, sync): direct(setup, n, sync, seconds)
                   for n, sync in ((1, True), (1, False), (4, True))}
        print("straight through the store: " + ", ".join(
            f"{n} process{'es' if n > 1 else ''}{'' if sync else ' without the WAL flush'}"
            f" {rate:.0f}/s" for (n, sync), rate in flushes.items()), flush=True)
        remote = {n: direct(setup, n, False, seconds, latency=REMOTE) for n in (1, 4)}
        print(f"straight through the store, {REMOTE * 2000:.0f} ms round trips, no WAL flush"
              " wait: " + ", ".join(f"{n} process{'es' if n > 1 else ''} {rate:.0f}/s"
                                    for n, rate in remote.items()), flush=True)
        return _rows(results, flushes, remote)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        import psycopg

        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _rows(results: dict[str, dict[str, Any]], flushes: dict[tuple[int, bool], float],
          remote: dict[int, float]) -> list[dict[str, Any]]:
    one, two, four = results["one"], results["two"], results["one x4"]

    def ratio(ours: float, peer: float) -> float | None:
        return round(ours / peer, 2) if peer else None

    rows: list[dict[str, Any]] = []
    for figures, name, label in ((two, "scale-out-appends", "two instances"),
                                 (four, "scale-out-appends-4-workers",
                                  "one instance of 4 workers")):
        rows.append({"scenario": name, "unit": f"appends/s, {label} (peer: one instance)",
                     "ours": round(figures["appends/s"]), "peer": round(one["appends/s"]),
                     "peer_name": "one instance",
                     "ratio": ratio(figures["appends/s"], one["appends/s"])})
    rows.append({"scenario": "scale-out-append-p99",
                 "unit": "ms, two instances (peer: one; lower is better)",
                 "ours": round(two["p99"] * 1000, 1), "peer": round(one["p99"] * 1000, 1),
                 "peer_name": "one instance", "ratio": ratio(two["p99"], one["p99"])})
    rows.append({"scenario": "scale-out-lock-hold",
                 "unit": "ms the append lock is held per append, two instances (peer: one)",
                 "ours": round(two["hold"] * 1000, 2), "peer": round(one["hold"] * 1000, 2),
                 "peer_name": "one instance", "ratio": None})
    for key, unit in (("waiter share", "% of pg_locks samples with an append-lock waiter"),
                      ("wait share", "% of an append's time spent waiting for the lock")):
        rows.append({"scenario": f"scale-out-lock-{key.split()[0]}",
                     "unit": f"{unit}, two instances (peer: one)",
                     "ours": round(two[key] * 100, 1), "peer": round(one[key] * 100, 1),
                     "peer_name": "one instance", "ratio": None})
    unflushed = flushes[(1, False)]
    for (n, sync), label in (((1, True), "one process"), ((4, True), "4 processes")):
        rows.append({"scenario": f"scale-out-store-{n}",
                     "unit": f"appends/s through EventStore.append, {label} (peer: one process,"
                             " synchronous_commit=off)",
                     "ours": round(flushes[(n, sync)]), "peer": round(unflushed),
                     "peer_name": "no WAL flush wait",
                     "ratio": round(flushes[(n, sync)] / unflushed, 2) if unflushed else None})
    rows.append({"scenario": "scale-out-store-remote",
                 "unit": f"appends/s through EventStore.append, 4 processes, {REMOTE * 2000:.0f}"
                         " ms round trips to PostgreSQL, no WAL flush wait (peer: 1 process)",
                 "ours": round(remote[4]), "peer": round(remote[1]), "peer_name": "one process",
                 "ratio": round(remote[4] / remote[1], 2) if remote[1] else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the scale-out scenario alone and print its rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="8 s per configuration")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    os.makedirs(os.environ.setdefault("BENCH_DIR", "var"), exist_ok=True)
    rows = run(args.quick, args.postgres)
    from .run import table

    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
