"""Page and read costs that must not grow with the log or with one claim (issues 15, 17).

The same four reads, served in process by the real app over a real redis-server with
views built from the log, against a log of 1,000 events and one of 1,000,000
(``--quick``: 100,000): the desk's claim list, a claim's desk page, ``GET /v1/claims/{id}``
and the first page of ``GET /v1/claims/{id}/history``. The claim read is the same small
probe claim appended to both logs. Each row gives the median ms at the large size beside
the small, and the ratio large / small (aim: at most 1.5). Then one claim of 100,000
entries (``--quick``: 20,000): its desk page and its first history page (aim: under 1 s).
Run: ``python -m bench.pages [--quick] [--json FILE]``; logs are cached in BENCH_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from api import create_app
from api.view_service import view_service
from bench.views import build_log
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.store import EventStore, open_store
from tests.support.redis_server import RedisServer
from workers.rebuild import rebuild

READS = ("desk-list", "desk-claim", "api-claim", "api-history")


def _row(scenario: str, unit: str, ours: float, peer: float | None = None,
         peer_name: str | None = None) -> dict[str, Any]:
    ratio = None if peer is None or not peer else round(ours / peer, 2)
    return {"scenario": scenario, "unit": unit, "ours": ours, "peer": peer,
            "peer_name": peer_name, "ratio": ratio}


def _claim(claim_id: str, notes: int) -> list[NewEvent]:
    recorded = validate_payload("ClaimRecorded", {
        "statement": "Kerry asked Zarif to help against ISIL.",
        "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars News Agency"},
        "tags": ["probe"],
    })
    events = [NewEvent(claim_id, "ClaimRecorded", recorded)]
    events += [NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": f"N{i}."}))
               for i in range(notes)]
    return events


def add_claim(store: EventStore, claim_id: str, notes: int) -> None:
    """Append a claim with ``notes`` notes, in appends of at most 10,000 events."""
    events = _claim(claim_id, notes)
    for start in range(0, len(events), 10_000):
        store.append(events[start:start + 10_000], actor="bench@example.org")


@contextmanager
def served(db: Path, work: Path) -> Iterator[FlaskClient]:
    """The app on ``db`` with views built in a private redis-server; its test client."""
    server = RedisServer(work / f"redis-{db.stem}").start()
    try:
        app = create_app({
            "DATABASE_URL": f"sqlite:///{db}", "REDIS_URL": server.url, "RATE_LIMIT": None,
            "DESK_RATE_LIMIT": None, "PUBLIC_READ": True, "DATA_DIR": work,
            "SIGNING_KEY": work / "no-signing.key", "REQUEST_LOG": False,
        })
        with app.app_context():
            service = view_service()
            store = open_store(f"sqlite:///{db}")
            started = time.perf_counter()
            # the app's client answers in at most a second; a rebuild's batches take longer
            assert rebuild(server.client(), store, service.config, "bench-pages") is not None
            store.close()
            print(f"  views of {db.name} built in {time.perf_counter() - started:.0f}s",
                  flush=True)
        yield app.test_client()
    finally:
        server.stop()


def _timed(client: FlaskClient, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code}")
    return elapsed * 1000


def median_ms(client: FlaskClient, path: str, rounds: int) -> float:
    """The median ms of GET ``path`` (after a warm-up), checking each answers 200."""
    for _ in range(min(10, rounds)):
        _timed(client, path)
    return statistics.median(_timed(client, path) for _ in range(rounds))


def side_by_side(clients: list[FlaskClient], path: str, rounds: int) -> list[float]:
    """The median ms of GET ``path`` on each client, their requests interleaved so that a
    change in the machine's load falls on all of them alike."""
    for client in clients:
        for _ in range(min(10, rounds)):
            _timed(client, path)
    samples: list[list[float]] = [[] for _ in clients]
    for _ in range(rounds):
        for client, times in zip(clients, samples, strict=True):
            times.append(_timed(client, path))
    return [statistics.median(times) for times in samples]


def paths(claim_id: str) -> dict[str, str]:
    """Each read's path for the probe claim."""
    return {
        "desk-list": "/desk/",
        "desk-claim": f"/desk/claims/{claim_id}",
        "api-claim": f"/v1/claims/{claim_id}",
        "api-history": f"/v1/claims/{claim_id}/history",
    }


def prepared(cache: Path, events: int, probe: str) -> Path:
    """A copy of the cached synthetic log of ``events`` events plus the probe claim."""
    base = cache / f"log-{events}.db"
    build_log(base, events)
    copy = cache / f"pages-{events}.db"
    for stale in cache.glob(copy.name + "*"):
        stale.unlink()
    shutil.copyfile(base, copy)
    store = open_store(f"sqlite:///{copy}")
    store.init()
    add_claim(store, probe, 10)
    store.close()
    return copy


def log_sizes(work: Path, cache: Path, small: int, large: int,
              rounds: int) -> dict[str, dict[int, float]]:
    """ms of each read at both log sizes, measured side by side."""
    probe = "0190c5a2-7f00-7000-8000-00000000be7c"
    measured: dict[str, dict[int, float]] = {name: {} for name in READS}
    dbs = [prepared(cache, events, probe) for events in (small, large)]
    with served(dbs[0], work) as first, served(dbs[1], work) as second:
        for name, path in paths(probe).items():
            at_small, at_large = side_by_side([first, second], path, rounds)
            measured[name] = {small: at_small, large: at_large}
            print(f"  {name}: {at_small:.2f} ms at {small:,} events, {at_large:.2f} ms at"
                  f" {large:,}", flush=True)
    return measured


def long_claim(work: Path, entries: int, rounds: int) -> dict[str, float]:
    """ms of the desk page and the first history page of a claim of ``entries`` entries."""
    db = work / "long-claim.db"
    store = open_store(f"sqlite:///{db}")
    store.init()
    claim_id = "0190c5a2-7f00-7000-8000-0000000010ee"
    add_claim(store, claim_id, entries - 1)
    store.close()
    with served(db, work) as client:
        return {
            "desk-claim": median_ms(client, f"/desk/claims/{claim_id}", rounds),
            "api-history": median_ms(client, f"/v1/claims/{claim_id}/history", rounds),
        }


def run(quick: bool, postgres: str | None = None) -> list[dict[str, Any]]:
    """Every pages scenario; returns rows for the harness (``postgres`` is unused)."""
    base = Path(os.environ.get("BENCH_DIR", "var"))
    cache = base / "bench-views"
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pages-", dir=base))
    small, large, entries, rounds = (
        (1_000, 100_000, 20_000, 30) if quick else (1_000, 1_000_000, 100_000, 100)
    )
    rows: list[dict[str, Any]] = []
    try:
        measured = log_sizes(work, cache, small, large, rounds)
        for name in READS:
            at = measured[name]
            rows.append(_row(f"pages-{name}", f"ms at {large:,} events (ratio = ms / ms at"
                             f" {small:,}; aim <= 1.5)", round(at[large], 2),
                             round(at[small], 2), f"same at {small:,} events"))
        for name, ms in long_claim(work, entries, max(5, rounds // 5)).items():
            rows.append(_row(f"pages-long-{name}", f"ms, one claim of {entries:,} entries"
                             " (aim < 1000)", round(ms, 1)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the pages scenarios alone and print their rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    print()
    print("| scenario | unit | ours | at the small size | ratio |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        peer = "—" if r["peer"] is None else f"{r['peer']:,}"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"| {r['scenario']} | {r['unit']} | {r['ours']:,} | {peer} | {ratio} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
