"""Ranking on SQLite: FTS5's BM25 over a generation's full-text table, with pruning.

A search's fill-in (claims holding some of the words) ranks every claim holding any of
them; with a common word that is most of the index (93,000 of 100,000 claims for the
bench's commonest), and ranking them all was the two-word query's tail. BM25 gives each
of the query's phrases at most ``idf * (k1 + 1)`` of a claim's score, whatever the
claim's text (FTS5's ``bm25``: ``idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgdl))``,
``idf`` floored at 1e-6), so a claim holding only common phrases scores at most the sum
of their bounds. The fill-in ranks the claims holding a rare phrase first (the same
ranking expression, restricted); when a page of them scores above that bound, no claim
holding only common words can enter the page and they are never ranked (MaxScore).
Otherwise it ranks every match as before. Either way the page is the same.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from .base import Filters, Row, Term

#: FTS5's ``bm25`` constants
K1 = 1.2
#: the columns' weights (statement, people, body) given to ``bm25``
WEIGHTS = "4.0, 2.0, 1.0"
#: a phrase held by more than this share of the claims counts as common for pruning
COMMON_SHARE = 0.1
#: matches above which the filters are checked against lists built once (a lookup per
#: match of a correlated subquery cost more than the ranking at 40,000 matches)
LISTED_FILTERS_FROM = 5000
_HIGH = "\U0010ffff"


def phrase(words_: Sequence[str], prefix: bool) -> str:
    """One FTS5 phrase (a prefix query for a single word of three letters or more)."""
    text = '"' + " ".join(w.replace('"', '""') for w in words_) + '"'
    return text + "*" if is_prefix(words_, prefix) else text


def is_prefix(words_: Sequence[str], prefix: bool) -> bool:
    """Whether ``phrase`` makes a prefix query of these words."""
    return prefix and len(words_) == 1 and len(words_[0]) >= 3


def phrases(terms: Sequence[Term]) -> list[tuple[tuple[str, ...], bool]]:
    """The positive phrases of a match, in order: (words, prefix)."""
    return [(alt, is_prefix(alt, i == 0)) for term in terms
            for i, alt in enumerate(term.alternatives)]


def fts_expression(terms: Sequence[Term], excluded: Sequence[str], every: bool) -> str:
    """An FTS5 MATCH expression: each term's alternatives ORed, terms ANDed (or ORed)."""
    groups = []
    for term in terms:
        alts = [phrase(alt, prefix=(i == 0)) for i, alt in enumerate(term.alternatives)]
        groups.append("(" + " OR ".join(alts) + ")")
    expression = (" AND " if every else " OR ").join(groups)
    if excluded:
        nots = " OR ".join(phrase([w], False) for w in excluded)
        expression = f"({expression}) NOT ({nots})"
    return expression


def idf_bound(rows: int, held_by_at_least: int) -> float:
    """The most FTS5's idf of a phrase can be when at least ``held_by_at_least`` of
    ``rows`` rows hold it (its idf falls as more rows hold it; floored at 1e-6)."""
    n = held_by_at_least
    idf = math.log((rows - n + 0.5) / (n + 0.5))
    return idf if idf > 0.0 else 1e-6


def _varint(data: bytes) -> int:
    """SQLite's varint at the start of ``data`` (FTS5's averages record starts with one)."""
    value = 0
    for i, byte in enumerate(data[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value
    return value


class Ranking:
    """The ranking queries of one generation over one connection, inside a read
    transaction (the bounds and the ranking see one snapshot)."""

    def __init__(self, conn: Any, generation: int, filters: Filters) -> None:
        self.conn, self.g, self.filters = conn, int(generation), filters

    def match(self, terms: Sequence[Term], excluded: Sequence[str], every: bool,
              limit: int) -> list[Row]:
        """The best ``limit`` claims matching every term (or any), ties by claim id."""
        expression = fts_expression(terms, excluded, every)
        held = self._held(phrases(terms))
        if not every and len(held) > 1:
            pruned = self._pruned(expression, terms, held, limit)
            if pruned is not None:
                return pruned
        where, params = self._where(max(held.values(), default=0) >= LISTED_FILTERS_FROM)
        return self._best(f"sg{int(self.g)}_fts MATCH ?" + where, [expression, *params], limit)

    def _pruned(self, expression: str, terms: Sequence[Term],
                held: dict[tuple[tuple[str, ...], bool], int], limit: int
                ) -> list[Row] | None:
        """The page from the claims holding a rare phrase alone, when it is provably the
        page (see the module docstring); None when the common claims may enter it."""
        rows = self._rows()
        common = {p for p, n in held.items() if n > COMMON_SHARE * rows}
        rare = [p for p in phrases(terms) if p not in common]
        if not common or not rare or any(held[p] > rows for p in common):
            return None  # (more holders than rows: not one snapshot; rank everything)
        bound = sum(idf_bound(rows, held[p]) * (K1 + 1.0) for p in phrases(terms)
                    if p in common)
        where, params = self._where(False)  # a lookup per rare match: few
        restricted = (f"sg{int(self.g)}_fts MATCH ? AND +f.rowid IN (SELECT rowid FROM"
                      f" sg{int(self.g)}_fts WHERE sg{int(self.g)}_fts MATCH ?)" + where)
        rare_expression = " OR ".join(phrase(w, prefix) for w, prefix in rare)
        if not self._holds(rare_expression, limit):
            return None
        ranked = self._ranked(restricted, [expression, rare_expression, *params], limit)
        # above the bound with room for rounding: a common claim's score is below it
        if len(ranked) < limit or -ranked[limit - 1][1] <= bound * (1 + 1e-9) + 1e-12:
            return None
        return self._best(restricted, [expression, rare_expression, *params], limit, ranked)

    def _holds(self, rare_expression: str, limit: int) -> bool:
        """Whether at least ``limit`` claims that pass the filters hold a rare phrase
        (cheap: few do; if too few, the common claims fill the page anyway)."""
        where, params = self._where(False)
        row = self.conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM sg{int(self.g)}_fts AS f"
            f" WHERE sg{int(self.g)}_fts MATCH ?" + where + " LIMIT ?)",
            [rare_expression, *params, limit]).fetchone()
        return int(row[0]) >= limit

    def _held(self, found: Sequence[tuple[tuple[str, ...], bool]]
              ) -> dict[tuple[tuple[str, ...], bool], int]:
        """Per phrase, how many claims at least hold it: the claims holding its word
        (the most of any word it is a prefix of); 0 for a phrase of several words."""
        held: dict[tuple[tuple[str, ...], bool], int] = {}
        for words_, prefix in found:
            if len(words_) != 1:
                held[(words_, prefix)] = 0
                continue
            word = words_[0]
            high = word + _HIGH if prefix else word
            row = self.conn.execute(
                f"SELECT max(n) FROM sg{int(self.g)}_words WHERE word >= ? AND word <= ?",
                (word, high)).fetchone()
            held[(words_, prefix)] = int(row[0] or 0)
        return held

    def _rows(self) -> int:
        """The rows FTS5's idf counts: the first varint of its averages record."""
        row = self.conn.execute(f"SELECT block FROM sg{int(self.g)}_fts_data WHERE id = 1"
                                ).fetchone()
        return _varint(bytes(row[0])) if row is not None and row[0] else 0

    def _where(self, listed: bool) -> tuple[str, list[object]]:
        """The filters as conditions on the match's rows: a lookup per row, or
        (``listed``) one list of the claims passing the filter names, built once."""
        g, filters = int(self.g), self.filters
        where, params = "", list[object]()
        names = sorted(filters.names)
        if listed and names:
            where += f" AND +f.rowid IN (SELECT rid FROM sg{int(g)}_attrs WHERE name = ?"
            for _ in names[1:]:
                where += f" INTERSECT SELECT rid FROM sg{int(g)}_attrs WHERE name = ?"
            if not filters.voided:
                where += (f" EXCEPT SELECT rid FROM sg{int(g)}_attrs"
                          " WHERE name = 'status:voided'")
            where += ")"
            params += names
        elif listed and not filters.voided:
            where += (f" AND +f.rowid NOT IN (SELECT rid FROM sg{int(g)}_attrs"
                      " WHERE name = 'status:voided')")
        elif not filters.voided:
            where += (f" AND NOT EXISTS (SELECT 1 FROM sg{int(g)}_attrs a"
                      " WHERE a.name = 'status:voided' AND a.rid = f.rowid)")
        if filters.updated_after:
            where += (f" AND EXISTS (SELECT 1 FROM sg{int(g)}_docs d WHERE d.rid = f.rowid"
                      " AND d.updated_at > ?)")
            params.append(filters.updated_after)
        for name in [] if listed else names:
            where += (f" AND EXISTS (SELECT 1 FROM sg{int(g)}_attrs a"
                      " WHERE a.name = ? AND a.rid = f.rowid)")
            params.append(name)
        return where, params

    def _ranked(self, where: str, params: list[object], limit: int
                ) -> list[tuple[int, float]]:
        """Every match's rank (row id, bm25), best ``limit`` and some more."""
        enough = limit + max(20, limit // 4)
        return [(int(r[0]), float(r[1])) for r in self.conn.execute(
            f"SELECT f.rowid, bm25(sg{int(self.g)}_fts, {WEIGHTS}) AS rank"
            f" FROM sg{int(self.g)}_fts AS f WHERE " + where + " ORDER BY rank LIMIT ?",
            [*params, enough]).fetchall()]

    def _best(self, where: str, params: list[object], limit: int,
              ranked: list[tuple[int, float]] | None = None) -> list[Row]:
        """Ranked in two steps: every match's rank (the filters checked on the small
        filter-name table), then the rows of the best few only. Ranking in one query read
        each match's whole row (body text included) into the sort: a common word's
        90,000 matches at 100,000 claims took 0.4-1 s where the ranks alone take a third."""
        g = int(self.g)
        if ranked is None:
            ranked = self._ranked(where, params, limit)
        enough = limit + max(20, limit // 4)
        # ties are broken by claim id: the cut is exact unless a tie spans it
        if len(ranked) == enough and ranked[limit - 1][1] >= ranked[-1][1]:
            whole = self.conn.execute(  # the ranking in one query, ties broken by claim id
                f"SELECT d.claim_id, d.summary, d.statement, d.people, d.body,"
                f" bm25(sg{int(g)}_fts, {WEIGHTS}) AS rank FROM sg{int(g)}_fts AS f"
                f" JOIN sg{int(g)}_docs AS d ON d.rid = f.rowid"
                " WHERE " + where + " ORDER BY rank, d.claim_id LIMIT ?", [*params, limit],
            ).fetchall()
            return [Row(r[0], r[1], r[2], r[3], r[4], -float(r[5])) for r in whole]
        rows = self.conn.execute(
            f"SELECT d.rid, d.claim_id, d.summary, d.statement, d.people, d.body"
            f" FROM sg{int(g)}_docs d WHERE d.rid IN (SELECT value FROM json_each(?))",
            (json.dumps([r[0] for r in ranked]),)).fetchall()
        rank = dict(ranked)
        found = sorted((rank[int(r[0])], str(r[1]), r) for r in rows)[:limit]
        return [Row(r[1], r[2], r[3], r[4], r[5], -score) for score, _, r in found]
