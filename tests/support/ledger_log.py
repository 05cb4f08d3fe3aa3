"""Helpers for the verifiable-log tests: stores on both backends, sample logs, raw SQL.

Not a test module. ``raw`` and ``unguard`` work behind the store's back, as an
attacker (or a careless operator) with database access would.
"""

from __future__ import annotations

import os
import random
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ledger.envelope import NewEvent, RecordedEvent
from ledger.events import validate_payload
from ledger.store import EventStore, open_store
from tests.support.postgres import POSTGRES_ENV, with_schema

#: the two backends, PostgreSQL marked so it can be selected or skipped
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
#: every table the append-only triggers guard
GUARDED = ("events", "payloads", "merkle_nodes", "checkpoints", "redactions", "key_rotations")
ACTOR = "desk@example.org"


def postgres_base() -> str:
    """The test server's URL; skips (fails in CI) when it is not configured."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} must be set in CI")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    return url


@contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a fresh, empty database of ``backend``, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'ledger-{uuid.uuid4().hex[:8]}.db'}"
        return
    import psycopg
    from psycopg import sql

    base = postgres_base()
    schema = f"ledger_log_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_schema(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def new_store(backend: str, directory: Path) -> Iterator[tuple[EventStore, str]]:
    """An initialised store on a fresh database, and its URL."""
    with database(backend, directory) as url:
        store = open_store(url)
        store.init()
        try:
            yield store, url
        finally:
            store.close()


def raw(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements with a plain driver connection; the rows of the last one."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            rows: list[tuple[Any, ...]] = []
            for statement in statements:
                rows = conn.execute(statement).fetchall()
            return rows
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        result: list[tuple[Any, ...]] = []
        for statement in statements:
            cur = pg.execute(statement.encode())
            result = cur.fetchall() if cur.description else []
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in result]


def unguard(url: str) -> None:
    """Switch the append-only triggers (and PostgreSQL's foreign keys) off."""
    if url.startswith("sqlite:///"):
        names = raw(url, "SELECT name FROM sqlite_master WHERE type = 'trigger'")
        raw(url, *[f"DROP TRIGGER {name}" for (name,) in names])
        return
    raw(url, *[f"ALTER TABLE {table} DISABLE TRIGGER ALL" for table in GUARDED])


def story(claims: int = 3) -> list[str]:
    """Fresh claim ids."""
    return [str(uuid.uuid4()) for _ in range(claims)]


def recorded(claim_id: str, statement: str = "Kerry asked Zarif to help against ISIL.") -> NewEvent:
    """A validated ``ClaimRecorded``."""
    data = validate_payload(
        "ClaimRecorded",
        {
            "statement": statement,
            "claimant": {"name": "Ali Khamenei"},
            "appearance": {"outlet": "Fars News Agency", "quote": "« Kerry a demandé » — ü 中文"},
        },
    )
    return NewEvent(claim_id, "ClaimRecorded", data)


def note(claim_id: str, text: str = "Called the press office.") -> NewEvent:
    """A validated ``NoteAdded``."""
    return NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": text}))


def grow(
    stores: Sequence[EventStore], count: int, claims: Sequence[str], seed: int = 1
) -> list[RecordedEvent]:
    """Append ``count`` events over ``claims`` in random batches, alternating the stores."""
    rng = random.Random(seed)
    started = {c for c in claims if stores[0].read_claim(c)}
    out: list[RecordedEvent] = []
    turn = 0
    while len(out) < count:
        size = min(count - len(out), rng.choice([1, 1, 2, 3, 5, 8, 17]))
        batch = []
        for _ in range(size):
            claim = rng.choice(list(claims))
            batch.append(note(claim, f"note {len(out) + len(batch)}") if claim in started
                         else recorded(claim))
            started.add(claim)
        out.extend(stores[turn % len(stores)].append(batch, actor=ACTOR))
        turn += 1
    return out


def leaves(events: Sequence[RecordedEvent]) -> list[bytes]:
    """The leaf hashes of events, as bytes."""
    return [bytes.fromhex(e.leaf_hash) for e in events]
