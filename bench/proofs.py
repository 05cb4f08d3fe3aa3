"""Proof latency at a million leaves, the append cost of the tree, and audit speed.

Scenarios: ``proof-1m`` (inclusion proof over HTTP from ``claimledger serve``, median
ms with a keep-alive connection; ``--quick`` uses 100k leaves), ``proof-1m-consistency``
(same for a consistency proof), both through the Flask app in process (``-app``) and
straight from the store (``-store``), ``tree-append-cost-<1|batch>-<db>`` (percent of
append throughput lost to writing tree nodes, one event and 100 events per append, in
wall time and, ``-cpu``, in this process's CPU), and ``audit`` (events/s).
Run: ``python -m bench.proofs [--quick] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ledger import merkle
from ledger.audit import audit
from ledger.checkpoint import load_or_create_signing_key
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.log import LogService
from ledger.store import EventStore, open_store
from ledger.store import base as store_base

ORIGIN = "bench.claimledger/log"
CLAIM = {
    "statement": "Kerry asked Zarif for Iran's cooperation against ISIL.",
    "claimant": {"name": "Ali Khamenei"},
    "appearance": {"outlet": "Fars News Agency"},
}
NOTE = {"text": "Called the press office."}


def _row(scenario: str, unit: str, ours: float) -> dict[str, Any]:
    return {"scenario": scenario, "unit": unit, "ours": ours, "peer": None,
            "peer_name": None, "ratio": None}


def build_log(store: EventStore, leaves: int, batch: int = 10_000, claims: int = 10_000) -> float:
    """Append ``leaves`` events in big batches; returns events/s."""
    store.init()
    recorded = validate_payload("ClaimRecorded", CLAIM)
    note = validate_payload("NoteAdded", NOTE)
    ids = [str(uuid.uuid4()) for _ in range(min(claims, leaves))]
    started = time.perf_counter()
    done = 0
    while done < leaves:
        events = []
        for n in range(done, min(leaves, done + batch)):
            claim = ids[n % len(ids)]
            first = n < len(ids)
            events.append(NewEvent(claim, "ClaimRecorded" if first else "NoteAdded",
                                   recorded if first else note))
        store.append(events, actor="bench")
        done += len(events)
    return leaves / (time.perf_counter() - started)


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def _time(call: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


def proof_times(url: str, key_path: Path, size: int, count: int) -> dict[str, float]:
    """Median ms of inclusion and consistency proofs, from the store and through the API."""
    from api import create_app

    rng = random.Random(9162)
    store = open_store(url)
    try:
        pairs = [(rng.randrange(size), size) for _ in range(count)]
        firsts = [rng.randrange(1, size) for _ in range(count)]
        it, ct = iter(pairs), iter(firsts)
        store_inc = _time(lambda: store.inclusion_proof(*next(it)), count)
        store_con = _time(lambda: store.consistency_proof(next(ct), size), count)
        proof = store.inclusion_proof(*pairs[0])
        assert merkle.verify_inclusion(proof.leaf_hash, proof.index, size, proof.proof, proof.root)
    finally:
        store.close()
    app = create_app({"DATABASE_URL": url, "SIGNING_KEY": key_path, "LOG_ORIGIN": ORIGIN,
                      "PUBLIC_READ": True, "RATE_LIMIT": None, "TESTING": True})
    client = app.test_client()
    it, ct = iter(pairs), iter(firsts)

    def inclusion() -> None:
        index, tree = next(it)
        answer = client.get(f"/v1/log/proof/inclusion?index={index}&size={tree}")
        assert answer.status_code == 200, answer.get_data(as_text=True)

    def consistency() -> None:
        answer = client.get(f"/v1/log/proof/consistency?from={next(ct)}&to={size}")
        assert answer.status_code == 200, answer.get_data(as_text=True)

    inclusion()  # warm up the app
    consistency()
    it, ct = iter(pairs), iter(firsts)
    return {
        "api-inclusion": _median_ms(_time(inclusion, count)),
        "api-consistency": _median_ms(_time(consistency, count)),
        "store-inclusion": _median_ms(store_inc),
        "store-consistency": _median_ms(store_con),
    }


@contextmanager
def serving(url: str, key_path: Path) -> Iterator[str]:
    """``claimledger serve --workers 2`` on the log, public read; its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_SIGNING_KEY": str(key_path),
           "LEDGER_LOG_ORIGIN": ORIGIN, "LEDGER_PUBLIC_READ": "1", "LEDGER_RATE_LIMIT": "off"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port),
         "--workers", "2", "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("claimledger serve did not start")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def served_times(url: str, key_path: Path, size: int, count: int) -> dict[str, float]:
    """Median ms of both proofs over real HTTP from ``claimledger serve`` (keep-alive)."""
    from urllib.parse import urlsplit

    with serving(url, key_path) as base:
        conn = http.client.HTTPConnection("127.0.0.1", urlsplit(base).port, timeout=30)
        rng = random.Random(6962)

        def get(path: str) -> None:
            conn.request("GET", path)
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 200, body[:300]

        def inclusion() -> None:
            get(f"/v1/log/proof/inclusion?index={rng.randrange(size)}&size={size}")

        def consistency() -> None:
            get(f"/v1/log/proof/consistency?from={rng.randrange(1, size)}&to={size}")

        for _ in range(20):  # warm up both workers
            inclusion()
            consistency()
        return {"http-inclusion": _median_ms(_time(inclusion, count)),
                "http-consistency": _median_ms(_time(consistency, count))}


@contextmanager
def tree_disabled() -> Iterator[None]:
    """Appends that write no tree nodes (only to measure what the nodes cost)."""
    namespace = vars(store_base)
    original = namespace["append_nodes"]

    def none(tx: Any, cache: Any, size: int, leaves: Any) -> tuple[list[Any], None]:
        return [], None

    namespace["append_nodes"] = none
    try:
        yield
    finally:
        namespace["append_nodes"] = original


def append_rate(
    make_url: Callable[[], str], events: int, batch: int, tree: bool
) -> tuple[float, float]:
    """Events per wall second and per CPU second appending ``events``, ``batch`` per append."""
    store = open_store(make_url())
    try:
        store.init()
        recorded = validate_payload("ClaimRecorded", CLAIM)
        note = validate_payload("NoteAdded", NOTE)
        claims = [str(uuid.uuid4()) for _ in range(max(1, events // 10))]
        store.append([NewEvent(c, "ClaimRecorded", recorded) for c in claims], actor="bench")
        flat = [NewEvent(claims[n % len(claims)], "NoteAdded", note) for n in range(events)]
        with tree_disabled() if not tree else _nothing():
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(flat), batch):
                store.append(flat[i : i + batch], actor="bench")
            return events / (time.perf_counter() - started), events / (time.process_time() - cpu)
    finally:
        store.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def tree_cost(
    make_url: Callable[[], str], events: int, batch: int, rounds: int
) -> tuple[float, float]:
    """Percent of append throughput lost to the tree, in wall time and in this process's CPU.

    Runs with and without the tree alternate (which goes first alternates too), and the
    median of each adjacent pair's ratio is taken, so a busy machine penalises both alike.
    """
    walls, cpus = [], []
    for round_ in range(rounds):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        rates = {tree: append_rate(make_url, events, batch, tree) for tree in order}
        walls.append(rates[True][0] / rates[False][0])
        cpus.append(rates[True][1] / rates[False][1])
    return (round((1 - statistics.median(walls)) * 100, 1),
            round((1 - statistics.median(cpus)) * 100, 1))


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """Every proof scenario; returns rows for scripts/bench."""
    leaves = 100_000 if quick else 1_000_000
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-proofs-", dir=os.environ.get("BENCH_DIR", "var")))
    try:
        url = f"sqlite:///{tmp / 'log.db'}"
        key_path = tmp / "signing.key"
        store = open_store(url)
        try:
            rate = build_log(store, leaves)
            print(f"built a {leaves:,}-leaf SQLite log at {rate:,.0f} events/s", flush=True)
            LogService(store, load_or_create_signing_key(key_path), ORIGIN).issue()
            report = audit(store, batch=5000)
            assert report.ok, report.summary()
            rows.append(_row("audit", "events/s", round(report.events / report.seconds)))
            print(f"audit: {report.events / report.seconds:,.0f} events/s", flush=True)
        finally:
            store.close()
        times = proof_times(url, key_path, leaves, 200 if quick else 1000)
        times |= served_times(url, key_path, leaves, 200 if quick else 1000)
        suffix = "" if not quick else " (100k leaves)"
        unit = "ms" if not quick else "ms at 100,000 leaves"  # names are fixed; units say
        rows.append(_row("proof-1m", unit, times["http-inclusion"]))
        rows.append(_row("proof-1m-consistency", unit, times["http-consistency"]))
        rows.append(_row("proof-1m-app", unit, times["api-inclusion"]))
        rows.append(_row("proof-1m-consistency-app", unit, times["api-consistency"]))
        rows.append(_row("proof-1m-store", unit, times["store-inclusion"]))
        rows.append(_row("proof-1m-consistency-store", unit, times["store-consistency"]))
        print(f"proofs{suffix}: {json.dumps(times)}", flush=True)
        rows.extend(_tree_costs(tmp, postgres, quick))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _tree_costs(tmp: Path, postgres: str | None, quick: bool) -> list[dict[str, Any]]:
    """The tree's append cost on SQLite (and PostgreSQL), one event and 100 per append."""
    counter = iter(range(10**6))
    rows: list[dict[str, Any]] = []
    for db in ("sqlite", "postgres"):
        if db == "postgres" and not postgres:
            continue
        pg = _pg_urls(postgres) if db == "postgres" and postgres else None
        with pg if pg is not None else _nothing() as maker:
            make: Callable[[], str] = maker or (
                lambda: f"sqlite:///{tmp / f'cost-{next(counter)}.db'}"
            )
            for label, batch, count in (("1", 1, 1000 if quick else 3000),
                                        ("batch", 100, 20_000 if quick else 100_000)):
                wall, cpu = tree_cost(make, count, batch, 3 if quick else 7)
                rows.append(_row(f"tree-append-cost-{label}-{db}", "%", wall))
                rows.append(_row(f"tree-append-cost-{label}-{db}-cpu", "%", cpu))
                print(f"tree cost, {batch} per append, {db}: {wall} % wall, {cpu} % CPU of"
                      " this process", flush=True)
    return rows


@contextmanager
def _pg_urls(base: str) -> Iterator[Callable[[], str]]:
    """Make URLs of fresh PostgreSQL schemas, all dropped afterwards."""
    import psycopg

    schemas: list[str] = []

    def make() -> str:
        schemas.append(f"bench_tree_{uuid.uuid4().hex[:10]}")
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schemas[-1]}")
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schemas[-1]}"

    try:
        yield make
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    rows = run(args.quick, args.postgres)
    json.dump(rows, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
