"""SQLite's two-step ranking (ranks first, then the rows of the best few) gives exactly
what ranking in one query gives: same claims, same order, same scores, ties included."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from ledger.search import Document, Filters
from ledger.search.base import Row, Term
from ledger.search.sqlite import SQLiteSearchIndex, fts_expression
from ledger.search.sqlite_ranking import Ranking

WORDS = ["kari", "karizo", "mute", "shian", "beldor", "fagu", "harin", "jolek", "mannu",
         "orpe", "quaros", "satun", "viwa", "yenka", "rimu", "teshi"]
STATUSES = ["unverified", "denied", "disputed", "voided"]


def documents(rng: random.Random, count: int) -> dict[str, Document | None]:
    docs: dict[str, Document | None] = {}
    for n in range(count):
        claim_id = f"{rng.getrandbits(64):016x}-{n:04d}"
        same = n % 7 == 0  # every seventh claim says the same: ties in rank
        statement = "kari mute shian" if same else " ".join(rng.choices(WORDS, k=6))
        body = "" if same else " ".join(rng.choices(WORDS, k=rng.randint(0, 30)))
        status = "unverified" if same else rng.choice(STATUSES)
        docs[claim_id] = Document(claim_id, statement, "", body, statement,
                                  (f"status:{status}",), f"2026-01-01T00:00:{n % 60:02d}Z",
                                  "{}")
    return docs


def test_two_step_ranking_equals_the_one_query_ranking(tmp_path: Path) -> None:
    index = SQLiteSearchIndex(str(tmp_path / "ledger.db.search"))
    generation = index.create_generation(1).generation
    assert index.apply(generation, 0, 0, 1, 0, documents(random.Random(4), 600))
    index.switch(generation)
    statements: list[str] = []
    with index._read() as conn:  # the index keeps this one connection
        conn.set_trace_callback(statements.append)
    rng = random.Random(8)
    checked = 0
    for _ in range(150):
        terms = [Term(((w,),)) for w in rng.sample(WORDS, rng.randint(1, 3))]
        names = rng.choice([(), ("status:unverified",), ("status:voided",)])
        filters = Filters(frozenset(names), rng.choice([None, "2026-01-01T00:00:30Z"]))
        limit = rng.choice([1, 5, 21, 60])
        for every in (True, False):
            found = index._match(generation, terms, [], every=every, filters=filters,
                                 limit=limit)
            where, params = _where(generation, terms, every, filters)
            with index._read() as conn:
                whole = _one_query(conn, generation, where, params, limit)
            assert found == whole
            checked += bool(whole)
    assert checked > 200
    # both paths ran: ties across the cut too (the one-query ranking is the tie fallback)
    fallbacks = sum("ORDER BY rank, d.claim_id" in s and not s.startswith(REFERENCE)
                    for s in statements)
    assert 0 < fallbacks < checked


def test_pruned_fill_in_equals_the_one_query_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words from common to rare (Zipf-like): the fill-in's pruned ranking (claims holding
    a rare word first, common-only claims skipped below their bound) is the full one."""
    rng = random.Random(12)
    vocabulary = [f"{a}{b}" for a in WORDS for b in ("", "ka", "zo", "mu")]
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(len(vocabulary))]
    docs: dict[str, Document | None] = {}
    for n in range(900):
        statement = " ".join(rng.choices(vocabulary, weights, k=rng.randint(3, 8)))
        body = " ".join(rng.choices(vocabulary, weights, k=rng.randint(0, 60)))
        docs[f"{rng.getrandbits(64):016x}-{n:04d}"] = Document(
            f"{n}", statement, "", body, statement,
            (f"status:{rng.choice(STATUSES)}",), "2026-01-01T00:00:00Z", "{}")
    index = SQLiteSearchIndex(str(tmp_path / "ledger.db.search"))
    generation = index.create_generation(1).generation
    assert index.apply(generation, 0, 0, 1, 0, docs)
    index.switch(generation)
    outcomes: list[bool] = []
    pruned = Ranking._pruned

    def counted(self: Ranking, *args: Any) -> list[Row] | None:
        found = pruned(self, *args)
        outcomes.append(found is not None)
        return found

    monkeypatch.setattr(Ranking, "_pruned", counted)
    for _ in range(200):
        chosen = [vocabulary[rng.randrange(4)], vocabulary[rng.randrange(len(vocabulary))]]
        terms = [Term(((w,),)) for w in dict.fromkeys(chosen)]
        filters = Filters(frozenset(rng.choice([(), ("status:denied",)])))
        limit = rng.choice([1, 5, 21, 41])
        found = index._match(generation, terms, [], every=False, filters=filters, limit=limit)
        where, params = _where(generation, terms, False, filters)
        with index._read() as conn:
            assert found == _one_query(conn, generation, where, params, limit)
    # both ways ran: pages from the rare-word claims alone, and the whole ranking
    assert outcomes.count(True) > 20
    assert outcomes.count(False) > 20


REFERENCE = "/* reference */ "


def _one_query(conn: Any, generation: int, where: str, params: list[object],
               limit: int) -> list[Row]:
    """The ranking in one query, ties broken by claim id: what the two steps must equal."""
    g = int(generation)
    rows = conn.execute(
        REFERENCE + f"SELECT d.claim_id, d.summary, d.statement, d.people, d.body,"
        f" bm25(sg{g}_fts, 4.0, 2.0, 1.0) AS rank FROM sg{g}_fts AS f"
        f" JOIN sg{g}_docs AS d ON d.rid = f.rowid"
        " WHERE " + where + " ORDER BY rank, d.claim_id LIMIT ?", [*params, limit],
    ).fetchall()
    return [Row(r[0], r[1], r[2], r[3], r[4], -float(r[5])) for r in rows]



def _where(generation: int, terms: list[Term], every: bool, filters: Filters
           ) -> tuple[str, list[object]]:
    g = int(generation)
    where = f"sg{g}_fts MATCH ?"
    params: list[object] = [fts_expression(terms, [], every)]
    if not filters.voided:
        where += " AND d.voided = 0"
    if filters.updated_after:
        where += " AND d.updated_at > ?"
        params.append(filters.updated_after)
    for name in sorted(filters.names):
        where += f" AND d.rid IN (SELECT rid FROM sg{g}_attrs WHERE name = ?)"
        params.append(name)
    return where, params
