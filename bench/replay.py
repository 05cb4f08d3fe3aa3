"""Read-side scenarios: ``replay-claim-<db>`` (read a 20-event claim and fold it) and
``read-all-<db>`` (the global log in pages of 1,000), beside eventsourcing 9.5."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from typing import Any

from ledger.fold import fold
from ledger.store import open_store

from .append import CLAIM, NOTE, _our_events, _pg_pair


def _build_ours(url: str, claims: int, events: int) -> list[str]:
    store = open_store(url)
    store.init()
    streams = _our_events(claims, events)
    for i in range(0, claims, 10):
        store.append([e for s in streams[i : i + 10] for e in s], actor="bench")
    store.close()
    return [s[0].claim_id for s in streams]


def _build_peer(env: dict[str, str], claims: int, events: int) -> tuple[Any, list[Any]]:
    from .peer_eventsourcing import Claim, Ledger

    app = Ledger(env=env)
    ids = []
    for _i in range(0, claims, 10):
        group = []
        for _ in range(10):
            claim = Claim(**CLAIM)
            for _ in range(events - 1):
                claim.deny(**NOTE)
            group.append(claim)
            ids.append(claim.id)
        app.save(*group)
    return app, ids


def replay_claims(
    url: str, env: dict[str, str], claims: int, seconds: float
) -> tuple[float, float]:
    """Claims folded per second, ours and the peer's ``repository.get``."""
    ids = _build_ours(url, claims, 20)
    store = open_store(url)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for claim_id in ids:
            state = fold(store.read_claim(claim_id))
            assert state is not None
            count += 1
    ours = count / (time.perf_counter() - start)
    store.close()
    app, peer_ids = _build_peer(env, claims, 20)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for aggregate_id in peer_ids:
            app.repository.get(aggregate_id)
            count += 1
    peer = count / (time.perf_counter() - start)
    app.close()
    return ours, peer


def _read_ours(store: Any) -> int:
    after, seen = 0, 0
    while page := store.read_all(after, 1000):
        after = page[-1].position
        seen += len(page)
    return seen


def _read_peer(app: Any) -> int:
    next_id, seen = 1, 0
    while page := app.recorder.select_notifications(start=next_id, limit=1000):
        seen += len(page)
        next_id = page[-1].id + 1
    return seen


def read_all(url: str, env: dict[str, str], total: int, rounds: int = 5) -> tuple[float, float]:
    """Global-log events read per second in pages of 1,000, ours and the peer's.

    The two read their whole logs in turn, ``rounds`` times each, and each side's median
    round counts: on a shared machine a single pass measures the neighbours' load as much
    as the code.
    """
    _build_ours(url, total // 10, 10)
    app, _ = _build_peer(env, total // 10, 10)
    store = open_store(url)
    ours: list[float] = []
    peer: list[float] = []
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            seen = _read_ours(store)
            ours.append(seen / (time.perf_counter() - start))
            start = time.perf_counter()
            seen = _read_peer(app)
            peer.append(seen / (time.perf_counter() - start))
    finally:
        store.close()
        app.close()
    return statistics.median(ours), statistics.median(peer)


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """Every read scenario; returns rows for the harness."""
    claims, seconds, total = (200, 2.0, 20_000) if quick else (500, 5.0, 100_000)
    rows: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="bench-replay-", dir=os.environ.get("BENCH_DIR", "var"))

    def row(scenario: str, unit: str, ours: float, peer: float) -> None:
        rows.append(
            {
                "scenario": scenario,
                "unit": unit,
                "ours": round(ours),
                "peer": round(peer),
                "peer_name": "eventsourcing 9.5",
                "ratio": round(ours / peer, 2),
            }
        )
        print(
            f"{scenario:<22} ours {ours:>9.0f}   eventsourcing {peer:>9.0f}   ratio "
            f"{ours / peer:.2f}",
            flush=True,
        )

    try:
        sqlite_env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": f"{tmp}/replay-peer.db",
        }
        ours, peer = replay_claims(f"sqlite:///{tmp}/replay-ours.db", sqlite_env, claims, seconds)
        row("replay-claim-sqlite", "claims/s", ours, peer)
        if postgres:
            url, env = _pg_pair(postgres, "replay")
            ours, peer = replay_claims(url, env, claims, seconds)
            row("replay-claim-postgres", "claims/s", ours, peer)
        read_env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": f"{tmp}/read-peer.db",
        }
        ours, peer = read_all(f"sqlite:///{tmp}/read-ours.db", read_env, total)
        row("read-all-sqlite", "events/s", ours, peer)
        if postgres:
            url, env = _pg_pair(postgres, "read")
            ours, peer = read_all(url, env, total)
            row("read-all-postgres", "events/s", ours, peer)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    run(quick=True, postgres=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
