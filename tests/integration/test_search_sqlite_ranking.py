"""SQLite's two-step ranking (ranks first, then the rows of the best few) gives exactly
what ranking in one query gives: same claims, same order, same scores, ties included."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ledger.search import Document, Filters
from ledger.search.base import Row, Term
from ledger.search.sqlite import SQLiteSearchIndex, fts_expression

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


class Counting(SQLiteSearchIndex):
    """Counts the searches ranked in one query (ties across the cut)."""

    whole = 0

    def _match_whole(self, *args: Any) -> list[Row]:
        self.whole += 1
        return super()._match_whole(*args)


def test_two_step_ranking_equals_the_one_query_ranking(tmp_path: Path) -> None:
    index = Counting(str(tmp_path / "ledger.db.search"))
    generation = index.create_generation(1).generation
    assert index.apply(generation, 0, 0, 1, 0, documents(random.Random(4), 600))
    index.switch(generation)
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
                whole = SQLiteSearchIndex._match_whole(index, conn, generation, where, params,
                                                       limit)
            assert found == whole
            checked += bool(whole)
    assert checked > 200
    assert 0 < index.whole < checked  # both paths ran: ties across the cut too


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
