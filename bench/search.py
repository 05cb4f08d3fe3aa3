"""Search benchmarks: the index's rebuild and catch-up rates, query latency and recall.

``python -m bench.search [--quick] [--postgres URL] [--claims N]`` builds a log of N
claims (about ten events each: statements, quotes, notes and denials of generated
words; quick: 10,000 claims, full: 100,000, about 1M events), rebuilds the search index,
appends more and catches up, then times queries through ``SearchIndex.search``: two
words with a status filter (the issue's aim: p99 <= 50 ms), one word, a misspelt word,
and ``similar``; and checks recall: for 100 claims that search can find (not voided, statement not
corrected since), three words of the statement with one of them misspelt find the claim
in the top 5. Then the index's cost to the views' lag, measured directly: one real
``claimledger worker`` (``bench.views``) over the same log, the views' append-to-visible
lag at 100 appends/s with the worker keeping the index and without (``LEDGER_SEARCH=0``),
alternating, twice each. SQLite always; PostgreSQL with ``--postgres`` (in a schema of
its own, dropped afterwards). Each figure carries the load average when it was taken.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from pathlib import Path
from typing import Any

from bench.views import Bench, _wait, probe_lag
from ledger.envelope import NewEvent
from ledger.fold import fold
from ledger.search import Document, Filters, SearchIndex, open_search_index
from ledger.store import EventStore, open_store
from workers.coordination import request_catch_up
from workers.indexes import attributes
from workers.search import catch_up_search, document, rebuild_search
from workers.synthetic import synthetic_events

SYLLABLES = ["ka", "ri", "zo", "mu", "te", "shi", "an", "bel", "dor", "fa", "gu", "har", "in",
             "jo", "lek", "man", "nu", "or", "pe", "qua", "ros", "sa", "tun", "vi", "wa", "yen"]
STATUSES = ["unverified", "corroborated", "denied", "disputed", "retracted"]


def vocabulary(size: int, seed: int = 3) -> list[str]:
    """``size`` distinct pseudo-words of two to four syllables."""
    rng = random.Random(seed)
    found: dict[str, None] = {}
    while len(found) < size:
        found["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))] = None
    return list(found)


class Corpus:
    """Sentences of words drawn with a Zipf-like skew (a few common, most rare)."""

    def __init__(self, seed: int = 5, size: int = 20_000) -> None:
        self.words = vocabulary(size)
        self.rng = random.Random(seed)
        # cumulative once: ``choices`` given plain weights sums all 20,000 per sentence
        # (that, not the store, made building a log run at a few hundred events/s)
        self.cumulative = list(accumulate(1.0 / (rank + 1) for rank in range(len(self.words))))

    def sentence(self, length: int) -> str:
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=length)
        return " ".join(words).capitalize() + "."


def events(claims: int, seed: int, corpus: Corpus) -> Iterator[NewEvent]:
    """The views' synthetic histories with generated text in statements, quotes, notes."""
    for event in synthetic_events(claims, seed=seed, mean_events=10.0):
        data = dict(event.data)
        if event.type == "ClaimRecorded":
            data["statement"] = corpus.sentence(corpus.rng.randint(8, 20))
            data["appearance"] = {**data["appearance"], "quote": corpus.sentence(20)}
        elif event.type == "NoteAdded":
            data["text"] = corpus.sentence(12)
        elif event.type in ("ClaimCorroborated", "ClaimDenied"):
            data["note"] = corpus.sentence(10)
        yield NewEvent(event.claim_id, event.type, data, id=event.id)


def fill(store: EventStore, claims: int, seed: int, corpus: Corpus) -> int:
    chunk: list[NewEvent] = []
    for event in events(claims, seed, corpus):
        chunk.append(event)
        if len(chunk) >= 10_000:
            store.append(chunk, actor="bench")
            chunk = []
    if chunk:
        store.append(chunk, actor="bench")
    return store.head()


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word))
    return word[:i] + word[i + 1:] if rng.random() < 0.5 else word[:i] + "x" + word[i:]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(ordered), 2),
            "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2)}


def load() -> float:
    """The one-minute load average now (the machine is shared: figures move with it)."""
    return round(os.getloadavg()[0], 2)


def progress(label: str, started: float, head: int, count: int, end: int) -> None:
    """Say how far a rebuild got now and then (a run cut short keeps its rate)."""
    if end // 100_000 != (end - count) // 100_000 or end >= head:
        took = time.perf_counter() - started
        print(f"  {label}: index rebuilt to {end:,} of {head:,} in {took:.0f}s"
              f" ({end / took:,.0f} events/s, load {load()})", flush=True)


def reached(bench: Bench, head: int) -> bool:
    """Whether the views have applied the log up to ``head``."""
    return bench.checkpoint() >= head


def views_lag(url: str, store: EventStore, index: SearchIndex, work: Path, seconds: float
              ) -> dict[str, list[dict[str, float]]]:
    """The views' lag with a worker keeping the index and without, alternating (same log,
    same Redis, same views): the index's cost to the views, measured directly."""
    bench = Bench(work, url, tick=1)
    found: dict[str, list[dict[str, float]]] = {"with_search": [], "without_search": []}
    try:
        for search in (True, False, True, False):
            if search:  # the index at the head first, as a worker keeping it would have it
                catch_up_search(index, store, store.scales, 0, batch_size=5000)
            bench.settings = {"LEDGER_SEARCH": "1" if search else "0"}
            bench.start_worker()
            request_catch_up(bench.redis, bench.config)
            head = store.head()
            _wait(partial(reached, bench, head), 1800, "the views", 0.1)
            result = probe_lag(bench, store, seconds)
            found["with_search" if search else "without_search"].append(
                {k: round(v, 1) for k, v in result.items()} | {"load": load()})
            bench.stop_worker()
    finally:
        bench.close()
    return found


def run_backend(url: str, claims: int, label: str, work: Path,
                lag_seconds: float = 20.0) -> dict[str, Any]:
    corpus = Corpus()
    store = open_store(url)
    store.init()
    started = time.perf_counter()
    head = fill(store, claims, seed=11, corpus=corpus)
    print(f"  {label}: {head:,} events for {claims:,} claims in"
          f" {time.perf_counter() - started:.0f}s (load {load()})", flush=True)
    index = open_search_index(url)
    started = time.perf_counter()
    generation, _ = rebuild_search(index, store, store.scales, 1, batch_size=5000,
                                   on_batch=partial(progress, label, started, head))
    rebuild_s = time.perf_counter() - started
    more = fill(store, max(1, claims // 20), seed=12, corpus=corpus) - head
    started = time.perf_counter()
    catch_up_search(index, store, store.scales, 0, batch_size=2000)
    catch_up_s = time.perf_counter() - started
    # steady state: one append, then the catch-up step a worker runs after the views' batch
    steps = []
    claim_ids = [e.claim_id for e in store.read_all(0, 2000) if e.type == "ClaimRecorded"]
    for i in range(200):
        note = NewEvent(claim_ids[i % len(claim_ids)], "NoteAdded",
                        {"text": corpus.sentence(12)})
        store.append([note], actor="bench")
        begun = time.perf_counter()
        catch_up_search(index, store, store.scales, 0, batch_size=2000)
        steps.append(time.perf_counter() - begun)
    result: dict[str, Any] = {
        "step_after_one_append": percentiles(steps),
        "backend": label, "claims": index.count(generation), "events": store.head(),
        "rebuild_s": round(rebuild_s, 1), "rebuild_events_per_s": round(head / rebuild_s),
        "catch_up_events": more, "catch_up_events_per_s": round(more / catch_up_s),
        "load_after_rebuild_and_catch_up": load(),
    }
    print(f"  {label}: rebuilt in {rebuild_s:.1f}s, caught up {more} events in"
          f" {catch_up_s:.1f}s", flush=True)
    recorded = [e for e in store.read_all(0, 50_000) if e.type == "ClaimRecorded"]

    def searchable(event: Any) -> bool:  # not voided, statement not corrected since
        state = fold(store.read_claim(event.claim_id), store.scales)
        return (state is not None and "status:voided" not in attributes(state)
                and state.get("statement") == (event.data or {}).get("statement"))

    rng = random.Random(9)
    sample = [(e.claim_id, str((e.data or {}).get("statement", "")))
              for e in rng.sample(recorded, len(recorded)) if searchable(e)][:100]
    result.update(time_queries(index, generation, corpus, sample, label))
    result["load_after_recall"] = load()
    print(f"  {label}: recall {result['recall_at_5']} (load {load()})", flush=True)
    print(f"  {label}: {json.dumps(result)}", flush=True)  # kept if the lag probes fail
    if lag_seconds > 0:
        result["views_lag_ms"] = views_lag(url, store, index, work / f"lag-{label}",
                                           lag_seconds)
    index.close()
    store.close()
    print(f"  {label}: {json.dumps(result)}", flush=True)  # a long run's first half kept
    return result


def time_queries(index: SearchIndex, generation: int, corpus: Corpus,
                 sample: list[tuple[str, str]], label: str) -> dict[str, Any]:
    """Query latencies (two words + a status, one word, a misspelt word, similar) and
    recall: three words of each sampled claim's statement, one misspelt, in the top 5."""
    rng = random.Random(9)
    common = corpus.words[:2000]

    def timed(q: str, filters: Filters) -> float:
        begun = time.perf_counter()
        index.search(generation, q, filters, limit=20, cursor=None)
        return time.perf_counter() - begun

    two = [timed(f"{rng.choice(common)} {rng.choice(corpus.words)}",
                 Filters(frozenset({f"status:{rng.choice(STATUSES)}"}))) for _ in range(300)]
    one = [timed(rng.choice(corpus.words), Filters()) for _ in range(300)]
    misspelt = [timed(typo(rng.choice(corpus.words[:5000]), rng), Filters()) for _ in range(200)]
    print(f"  {label}: queries timed (load {load()})", flush=True)
    result: dict[str, Any] = {"load_after_queries": load(), "two_words_status": percentiles(two),
                              "one_word": percentiles(one), "misspelt_word": percentiles(misspelt)}
    rank = {w: i for i, w in enumerate(corpus.words)}
    hits = 0
    similar_times = []
    for claim_id, statement in sample:
        chosen = sorted(set(statement.rstrip(".").lower().split()),
                        key=lambda w: rank.get(w, 0))[-3:]
        chosen[0] = typo(chosen[0], rng) if len(chosen[0]) > 4 else chosen[0]
        page = index.search(generation, " ".join(chosen), Filters(), limit=5, cursor=None)
        hits += any(h.item["id"] == claim_id for h in page.hits)
        begun = time.perf_counter()
        index.similar(generation, statement, limit=3, threshold=0.45)
        similar_times.append(time.perf_counter() - begun)
    result["recall_at_5"] = round(hits / len(sample), 3)
    result["similar"] = percentiles(similar_times)
    return result


@dataclass(frozen=True)
class _Event:
    """What the fold needs of an event, without a log (``index_only``)."""

    id: str
    claim_id: str
    type: str
    version: int
    data: Mapping[str, Any] | None
    occurred_at: str
    recorded_at: str


def index_only(url: str, claims: int, label: str) -> dict[str, Any]:
    """The index of ``claims`` claims (the same generated histories, folded in memory and
    written straight into a generation, no log) and the query figures over it: the
    issue's size where building its log takes hours on a loaded machine."""
    corpus = Corpus()
    index = open_search_index(url)
    generation = index.create_generation(1).generation
    started = time.perf_counter()
    written = events_folded = 0
    sample: list[tuple[str, str]] = []
    pick = random.Random(13)

    def at(n: int) -> str:  # increasing times, one a second
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + n))

    for chunk in range(0, claims, 10_000):
        streams: dict[str, list[_Event]] = {}
        for n, event in enumerate(events(min(10_000, claims - chunk), 100 + chunk, corpus)):
            stream = streams.setdefault(event.claim_id, [])
            stream.append(_Event(event.id or str(uuid.uuid4()), event.claim_id, event.type,
                                 len(stream) + 1, event.data, at(n), at(n)))
        docs: dict[str, Document | None] = {}
        for claim_id, stream in streams.items():
            state = fold(stream)
            events_folded += len(stream)
            if state is None:
                continue
            docs[claim_id] = document(state)
            statement = str(stream[0].data.get("statement", "")) if stream[0].data else ""
            if (len(sample) < 100 and "status:voided" not in attributes(state)
                    and state.get("statement") == statement and pick.random() < 0.01):
                sample.append((claim_id, statement))
        items = list(docs.items())
        for i in range(0, len(items), 2000):
            assert index.apply(generation, 0, written, written + 1, 0, dict(items[i:i + 2000]))
            written += 1
        print(f"  {label}: {chunk + 10_000:,} claims indexed (load {load()})", flush=True)
    index.switch(generation)
    built_s = time.perf_counter() - started
    result: dict[str, Any] = {"backend": label, "mode": "index only",
                              "claims": index.count(generation), "events_folded": events_folded,
                              "built_s": round(built_s, 1), "load_after_build": load()}
    result.update(time_queries(index, generation, corpus, sample, label))
    result["load_after_recall"] = load()
    index.close()
    print(f"  {label}: {json.dumps(result)}", flush=True)
    return result


def measure(claims: int, postgres: str | None, only: str | None = None,
            lag_seconds: float = 20.0, index_only_: bool = False) -> list[dict[str, Any]]:
    """``run_backend`` on SQLite (unless ``only`` is postgres) and on PostgreSQL when a URL
    is given (in a schema of its own, dropped afterwards)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as work:
        if only != "postgres":
            sqlite = f"sqlite:///{Path(work) / 'ledger.db'}"
            results.append(index_only(sqlite, claims, "sqlite") if index_only_ else
                           run_backend(sqlite, claims, "sqlite", Path(work), lag_seconds))
        if postgres and only != "sqlite":
            import psycopg
            from psycopg import sql

            schema = f"bench_search_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            joiner = "&" if "?" in postgres else "?"
            try:
                url = f"{postgres}{joiner}options=-csearch_path%3D{schema}"
                results.append(index_only(url, claims, "postgres") if index_only_ else
                               run_backend(url, claims, "postgres", Path(work), lag_seconds))
            finally:
                with psycopg.connect(postgres, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
                        sql.Identifier(schema)))
    return results


def _row(scenario: str, unit: str, ours: float) -> dict[str, Any]:
    return {"scenario": scenario, "unit": unit, "ours": ours, "peer": None,
            "peer_name": None, "ratio": None}


def run(quick: bool, postgres: str | None = None) -> list[dict[str, Any]]:
    """The harness's rows (``python -m bench.run --only search``), per backend."""
    rows = []
    for r in measure(10_000 if quick else 100_000, postgres, lag_seconds=0):
        b, size = r["backend"], f"{r['claims']:,} claims"
        rows += [
            _row(f"search-two-words-status-p99-{b}", f"ms at {size}",
                 r["two_words_status"]["p99_ms"]),
            _row(f"search-two-words-status-p50-{b}", f"ms at {size}",
                 r["two_words_status"]["p50_ms"]),
            _row(f"search-similar-p99-{b}", f"ms at {size}", r["similar"]["p99_ms"]),
            _row(f"search-rebuild-{b}", f"events/s over {r['events']:,} events",
                 r["rebuild_events_per_s"]),
            _row(f"search-catch-up-{b}", "events/s", r["catch_up_events_per_s"]),
            _row(f"search-recall-{b}", "top-5 share, one word misspelt", r["recall_at_5"]),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--claims", type=int)
    parser.add_argument("--postgres", help="also on PostgreSQL (a base URL)")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--lag-seconds", type=float,
                        help="each views-lag probe (default 20, quick 5; 0: none)")
    parser.add_argument("--index-only", action="store_true",
                        help="no log: histories folded in memory, written into the index;"
                        " query figures only")
    args = parser.parse_args(argv)
    claims = args.claims or (10_000 if args.quick else 100_000)
    lag = args.lag_seconds if args.lag_seconds is not None else (5.0 if args.quick else 20.0)
    print(json.dumps(measure(claims, args.postgres, args.only, lag, args.index_only), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
