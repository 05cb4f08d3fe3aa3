"""Append throughput, ours beside the ``eventsourcing`` library, on SQLite and PostgreSQL.

Scenarios (names fixed, shared with scripts/bench), both sides doing the same appends in
the same order: ``append-1-<db>`` (one event per transaction, one writer, round-robin
over the claims), ``append-batch-<db>`` (100 events per transaction: ten claims of ten
events each, as an import records them) and ``append-spread-<db>`` (100 events per
transaction, one to each of 100 claims, as a busy desk annotates); and
``append-1-sqlite-rows-only``, the same rows as ``append-1-sqlite`` written by bare SQL
(the ceiling of that scenario on this disk). Each scenario's sides run in turn, a tenth
of their appends at a time (``interleaved``), so the machine's other load falls on both;
no side's setup (schema, application, the events to append) is timed.
Run: ``python -m bench.append [--quick] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.hashing import canonical_json
from ledger.ids import new_uuid
from ledger.store import EventStore, open_store

CLAIM = {
    "statement": "Kerry asked Zarif for Iran's cooperation against ISIL.",
    "claimant": {"name": "Ali Khamenei", "same_as": "https://www.wikidata.org/wiki/Q57336"},
    "appearance": {"outlet": "Fars News Agency", "published_at": "2014-09-15T09:00:00Z"},
    "tags": ["iran", "isil"],
}
NOTE = {"by": {"name": "US State Department"}, "note": "Spokeswoman Marie Harf denied it."}


def _our_events(claims: int, events: int) -> list[list[NewEvent]]:
    """Per claim, its events (validated payloads, as the API would hand them over)."""
    first = validate_payload("ClaimRecorded", CLAIM)
    later = validate_payload("ClaimDenied", NOTE)
    streams = []
    for _ in range(claims):
        cid = new_uuid()  # time-ordered, as the API assigns claim ids (the peer's are too)
        streams.append(
            [NewEvent(cid, "ClaimRecorded", first)]
            + [NewEvent(cid, "ClaimDenied", later) for _ in range(events - 1)]
        )
    return streams


def _order(streams: list[list[NewEvent]], spread: bool) -> list[NewEvent]:
    """Round-robin over the claims (spread), else each claim's events together."""
    if spread:
        return [s[i] for i in range(len(streams[0])) for s in streams]
    return [e for s in streams for e in s]


#: each side's appends are cut into this many slices, run in turn with the other side's
SLICES = 10


def _ours_steps(store: EventStore, claims: int, events: int, batch: int, spread: bool,
                slices: int = SLICES) -> Iterator[int]:
    """Our appends, ``batch`` events per transaction; yields 0 once the schema and the
    events are made (untimed, as every side's setup), then the events of each slice."""
    store.init()
    flat = _order(_our_events(claims, events), spread)
    yield 0
    step = max(batch, -(-len(flat) // slices // batch) * batch)
    for first in range(0, len(flat), step):
        part = flat[first : first + step]
        if batch == 1:
            for event in part:
                store.append([event], actor="bench")
        else:
            for i in range(0, len(part), batch):
                store.append(part[i : i + batch], actor="bench")
        yield len(part)
    assert store.head() == len(flat)


def _peer_steps(env: dict[str, str], claims: int, events: int, batch: int, spread: bool,
                slices: int = SLICES) -> Iterator[int]:
    """The same appends through eventsourcing 9.5 (aggregates kept in memory).

    The same order as ours: round-robin over the claims (one event per claim per save,
    ``batch`` claims per save) when spread, else whole claims together. Yields 0 once
    the application and its table are made (untimed), then the events of each slice.
    """
    from .peer_eventsourcing import Claim, Ledger

    app = Ledger(env=env)
    yield 0
    step = max(1, claims * events // slices)
    done = 0
    try:
        if spread:
            aggregates: list[Claim] = []
            for round_ in range(events):
                for first in range(0, claims, batch):
                    if round_ == 0:
                        group = [Claim(**CLAIM) for _ in range(min(batch, claims - first))]
                        aggregates.extend(group)
                    else:
                        group = aggregates[first : first + batch]
                        for claim in group:
                            claim.deny(**NOTE)
                    app.save(*group)
                    done += len(group)
                    if done >= step:
                        yield done
                        done = 0
        else:
            per_save = max(1, batch // events)
            for _i in range(0, claims, per_save):
                group = []
                for _ in range(per_save):
                    claim = Claim(**CLAIM)
                    for _ in range(events - 1):
                        claim.deny(**NOTE)
                    group.append(claim)
                app.save(*group)
                done += per_save * events
                if done >= step:
                    yield done
                    done = 0
        if done:
            yield done
    finally:
        app.close()


def _rows_steps(directory: str, claims: int, events: int,
                slices: int = SLICES) -> Iterator[int]:
    """Only the rows of one-event appends, written by bare SQL: no Python ledger.

    A real append into a scratch ledger makes the rows (event, payload, tree nodes);
    they are then inserted again into an empty ledger, one transaction each, through
    ``sqlite3`` with the store's pragmas: what ``append-1-sqlite`` could reach on this
    disk if hashing, checks, caches and locks cost nothing. (The scratch appends come
    before the first slice and are not timed.)
    """
    scratch = open_store(f"sqlite:///{directory}/rows-scratch.db")
    try:
        for _ in _ours_steps(scratch, claims, events, 1, True, 1):
            pass
        recorded = list(scratch.iter_all())
    finally:
        scratch.close()
    source = sqlite3.connect(f"{directory}/rows-scratch.db")
    nodes: dict[int, list[tuple[Any, ...]]] = {}
    for row in source.execute("SELECT k, level, idx, hash FROM merkle_nodes"):
        nodes.setdefault((row[2] + 1) << row[1], []).append(row)
    source.close()
    target = open_store(f"sqlite:///{directory}/rows-target.db")
    target.init()
    target.close()
    payloads = [canonical_json(dict(e.data or {})).decode() for e in recorded]
    conn = sqlite3.connect(f"{directory}/rows-target.db", isolation_level=None)
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")  # the store's: each payload row's event checked
    yield 0  # ready: the slices below are the timed part
    step = max(1, len(recorded) // slices)
    try:
        for first in range(0, len(recorded), step):
            for e, payload in zip(recorded[first : first + step], payloads[first : first + step],
                                  strict=True):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (e.position, e.id, e.claim_id, e.version, e.type, e.schema_version,
                     e.occurred_at, e.recorded_at, e.actor, "{}", e.payload_sha256,
                     e.prev_hash, e.leaf_hash),
                )
                conn.execute("INSERT INTO payloads VALUES (?, ?)", (e.position, payload))
                for node in nodes.get(e.position, ()):
                    conn.execute(
                        "INSERT INTO merkle_nodes (k, level, idx, hash) VALUES (?, ?, ?, ?)",
                        node,
                    )
                conn.execute("COMMIT")
            yield min(step, len(recorded) - first)
    finally:
        conn.close()


def interleaved(sides: dict[str, Iterator[int]]) -> dict[str, float]:
    """Events per second of each side, their slices run in turn (one slice of each, then
    the next of each...): on a machine shared with other work, a burst of the
    neighbours' load then falls on every side alike instead of on whichever ran then.

    Each side's first step (its setup: schema, application, the events to append)
    is run first and not timed, for every side alike.
    """
    for steps in sides.values():
        next(steps)
    done = dict.fromkeys(sides, 0)
    spent = dict.fromkeys(sides, 0.0)
    active = dict(sides)
    while active:
        for name, steps in list(active.items()):
            started = time.perf_counter()
            count = next(steps, None)
            if count is None:
                del active[name]
                continue
            spent[name] += time.perf_counter() - started
            done[name] += count
    return {name: done[name] / spent[name] for name in sides}


def ours(store: EventStore, claims: int, events: int, batch: int, spread: bool) -> float:
    """Events per second appending through our store, ``batch`` events per transaction."""
    return interleaved({"ours": _ours_steps(store, claims, events, batch, spread)})["ours"]


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """Every append scenario; returns rows for scripts/bench."""
    claims, events = (100, 10) if quick else (500, 10)
    rows: list[dict[str, Any]] = []
    tmp = tempfile.mkdtemp(prefix="bench-append-", dir=os.environ.get("BENCH_DIR", "var"))
    try:
        for db in ("sqlite", "postgres"):
            if db == "postgres" and not postgres:
                continue
            for label, batch, spread in (
                ("append-1", 1, True),
                ("append-batch", 100, False),
                ("append-spread", 100, True),
            ):
                scale = claims * (4 if batch > 1 else 1)
                if db == "sqlite":
                    url = f"sqlite:///{tmp}/{label}-ours.db"
                    env = {
                        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                        "SQLITE_DBNAME": f"{tmp}/{label}-peer.db",
                    }
                else:
                    assert postgres is not None
                    url, env = _pg_pair(postgres, label)
                store = open_store(url)
                sides = {
                    "ours": _ours_steps(store, scale, events, batch, spread),
                    "peer": _peer_steps(env, scale, events, batch, spread),
                }
                if label == "append-1" and db == "sqlite":
                    sides["rows-only"] = _rows_steps(tmp, scale, events)
                try:
                    rates = interleaved(sides)
                finally:
                    store.close()
                mine, theirs = rates["ours"], rates["peer"]
                rows.append(
                    {
                        "scenario": f"{label}-{db}",
                        "unit": "events/s",
                        "ours": round(mine),
                        "peer": round(theirs),
                        "peer_name": "eventsourcing 9.5",
                        "ratio": round(mine / theirs, 2),
                    }
                )
                print(
                    f"{label}-{db:<8} ours {mine:>9.0f} ev/s   eventsourcing {theirs:>9.0f} ev/s"
                    f"   ratio {mine / theirs:.2f}",
                    flush=True,
                )
                if label == "append-1" and db == "sqlite":
                    ceiling = rates["rows-only"]
                    rows.append(
                        {
                            "scenario": "append-1-sqlite-rows-only",
                            "unit": "events/s",
                            "ours": round(ceiling),
                            "peer": round(theirs),
                            "peer_name": "eventsourcing 9.5",
                            "ratio": round(ceiling / theirs, 2),
                        }
                    )
                    print(f"append-1-sqlite-rows-only {ceiling:>9.0f} ev/s"
                          f"   ceiling ratio {ceiling / theirs:.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _pg_pair(base: str, label: str) -> tuple[str, dict[str, str]]:
    """A fresh schema for us and a fresh database-qualified table set for the peer."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    schema = f"bench_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE SCHEMA {schema}_peer")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    info = conninfo_to_dict(base)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "test")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_SCHEMA": f"{schema}_peer",
        "POSTGRES_CREATE_TABLE": "y",
    }
    return url, env


def main(argv: list[str] | None = None, emit: Callable[[str], None] = print) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    rows = run(args.quick, args.postgres)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    emit(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
