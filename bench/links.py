"""Other claims' links to a claim read from the log (``ledger.links.linked_from``), and
what the index of link targets costs a write.

Scenarios: ``links-from-log-<db>``: median ms of ``linked_from`` for a claim with 20
inbound links in a log of 200,000 events (``--quick``: 20,000), beside the same at a
tenth of that size, samples interleaved (ratio large / small: near 1 means it does not
grow with the log);
``links-index-insert-<db>``: µs of the database's own work per payload row inserted
with the index, beside without it (a story's mix of payloads, one in ten a link; ratio
with / without). SQLite rows go in one transaction, PostgreSQL's in one statement, so
neither figure is a round trip or an fsync.
Run: ``python -m bench.links [--quick] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ledger import hashing
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.fold import fold
from ledger.links import linked_from
from ledger.store import EventStore, open_store
from ledger.store.links import LINK_TARGETS_INDEX
from workers.synthetic import fill_store

INBOUND = 20


def _row(scenario: str, unit: str, ours: float, peer: float, peer_name: str) -> dict[str, Any]:
    return {"scenario": scenario, "unit": unit, "ours": round(ours, 3), "peer": round(peer, 3),
            "peer_name": peer_name, "ratio": round(ours / peer, 2) if peer else None}


@contextmanager
def _database(db: str, postgres: str | None) -> Iterator[str]:
    """A fresh SQLite file or PostgreSQL schema, removed afterwards."""
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-links-") as directory:
            yield f"sqlite:///{directory}/ledger.db"
        return
    import psycopg
    from psycopg import sql

    assert postgres is not None
    schema = f"bench_links_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield f"{postgres}{'&' if '?' in postgres else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _link(source: str, target: str) -> NewEvent:
    data = validate_payload("ClaimLinked", {"target_claim_id": target, "kind": "restates"})
    return NewEvent(source, "ClaimLinked", data)


def _linked_log(url: str, events: int) -> tuple[EventStore, str]:
    """A store of about ``events`` events (synthetic claims of five events on average)
    and a claim ``INBOUND`` others link to."""
    store = open_store(url)
    store.init()
    fill_store(store, max(1, events // 5))
    live = [c for c in store.ids_starting("", limit=4 * INBOUND)
            if (fold(store.read_claim(c)) or {}).get("status") != "voided"]
    hub, spokes = live[0], live[1:INBOUND + 1]
    store.append([_link(spoke, hub) for spoke in spokes], actor="bench")
    assert len(linked_from(store, hub)) == len(spokes)
    return store, hub


def linked_from_ms(large: tuple[EventStore, str], small: tuple[EventStore, str],
                   samples: int = 200) -> tuple[float, float]:
    """Median ms of ``linked_from`` on both logs, their samples interleaved so that the
    machine's load falls on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(samples):
        for side, (store, hub) in enumerate((large, small)):
            started = time.perf_counter()
            linked_from(store, hub)
            times[side].append(time.perf_counter() - started)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def _payloads(count: int) -> list[str]:
    """Canonical payloads of a story's mix, one in ten a link."""
    mix = [
        {"statement": "Kerry asked Zarif to help against ISIL.", "claimant": {"name": "Khamenei"},
         "appearance": {"outlet": "Fars News Agency", "quote": "« Kerry a demandé »"}},
        {"text": "Called the press office."},
        {"by": {"name": "US Department of State"}, "note": "Daily press briefing."},
    ]
    rows = []
    for i in range(count):
        data = ({"kind": "restates", "target_claim_id": str(uuid.uuid4())} if i % 10 == 9
                else mix[i % 3])
        rows.append(hashing.canonical_json(data).decode())
    return rows


def _insert_sqlite(rows: list[str], indexed: bool) -> float:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE payloads (position INTEGER PRIMARY KEY, data TEXT NOT NULL)")
    if indexed:
        conn.execute(LINK_TARGETS_INDEX[0])
    started = time.perf_counter()
    with conn:
        for position, data in enumerate(rows, 1):
            conn.execute("INSERT INTO payloads (position, data) VALUES (?, ?)", (position, data))
    took = time.perf_counter() - started
    conn.close()
    return took / len(rows) * 1e6


def _inserter_postgres(url: str) -> Callable[[list[str], bool], float]:
    import psycopg

    def insert(rows: list[str], indexed: bool) -> float:
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TEMP TABLE payloads (position BIGINT PRIMARY KEY,"
                         " data TEXT NOT NULL)")
            if indexed:
                conn.execute(LINK_TARGETS_INDEX[1])
            started = time.perf_counter()
            conn.execute("INSERT INTO payloads (position, data) SELECT i, d"
                         " FROM unnest(%s::text[]) WITH ORDINALITY AS t(d, i)", (rows,))
            took = time.perf_counter() - started
            conn.rollback()
        return took / len(rows) * 1e6

    return insert


def insert_cost(insert: Callable[[list[str], bool], float], count: int,
                rounds: int = 6) -> tuple[float, float]:
    """Median µs per row with and without the index, rounds alternating which goes first."""
    rows = _payloads(count)
    timed: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(rounds):
        for indexed in ((True, False) if round_ % 2 == 0 else (False, True)):
            timed[indexed].append(insert(rows, indexed))
    return statistics.median(timed[True]), statistics.median(timed[False])


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """The links scenarios; returns rows for ``bench.run``."""
    large = 20_000 if quick else 200_000
    rows: list[dict[str, Any]] = []
    for db in ("sqlite", "postgres"):
        if db == "postgres" and not postgres:
            continue
        with _database(db, postgres) as big_url, _database(db, postgres) as small_url:
            logs = _linked_log(big_url, large), _linked_log(small_url, large // 10)
            try:
                big, small = linked_from_ms(*logs)
            finally:
                for store, _ in logs:
                    store.close()
        rows.append(_row(f"links-from-log-{db}", f"ms at {large:,} events ({INBOUND} links;"
                         f" ratio = ms / ms at {large // 10:,})", big, small,
                         f"{large // 10:,} events"))
        insert = _insert_sqlite if db == "sqlite" else _inserter_postgres(postgres or "")
        with_index, without = insert_cost(insert, 20_000 if quick else 100_000)
        rows.append(_row(f"links-index-insert-{db}", "µs per payload row (ratio = with / without"
                         " the index)", with_index, without, "without the index"))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run and print the rows as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick, args.postgres), indent=2))


if __name__ == "__main__":
    main()
