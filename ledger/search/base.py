"""The search index: one abstract interface, one module per backend (like the event store).

The index is a projection: documents folded from the log by the workers, never part of
the log and never read by a write. It lives in generations like the views: a rebuild
fills a new generation beside the live one and switches when it has caught up. Each
generation has one checkpoint per partition (the views' partitions) and a redaction
marker; a batch is written in one transaction that first checks both, so a worker
killed at any instant leaves all of a batch or none, and a batch folded before a purge
never lands.

Searching is shared here: the backend answers a few primitive queries (match words,
find indexed words near a misspelt one, similarity candidates) and this module ranks,
pages and cuts snippets, so both backends give the same answers.
"""

from __future__ import annotations

import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .text import (
    Query,
    close_words,
    parse_query,
    similarity,
    snippet,
    trigrams,
    typo_neighbours,
    words,
)

#: most results a search pages through (offset cursors stop there)
MAX_RESULTS = 1000
#: body text kept per claim (a claim with 100,000 entries indexes its first entries)
MAX_BODY = 100_000


@dataclass(frozen=True)
class Document:
    """What the index holds of one claim (built from its folded state by the workers)."""

    claim_id: str
    statement: str
    people: str
    body: str
    #: statement and quotes: what similar-claim warnings compare
    similar_text: str
    #: the list's filter names (``status:denied``, ``tag:x``…) the claim matches
    attrs: tuple[str, ...]
    updated_at: str
    #: JSON of the list's summary of the claim
    summary: str

    def normalized(self) -> tuple[str, str, str, str]:
        """Statement, people, body (cut to ``MAX_BODY``) and similar text as indexed."""
        return (" ".join(words(self.statement)), " ".join(words(self.people)),
                " ".join(words(self.body[:MAX_BODY])), " ".join(words(self.similar_text)))


def vocabulary(*texts: str) -> set[str]:
    """The distinct words of normalised texts (what misspelt queries are matched to)."""
    found: set[str] = set()
    for text in texts:
        found.update(text.split())
    return found


def word_deltas(old: list[str], new: list[str]) -> dict[str, int]:
    """How each word's document count changes when a document's words go from old to new."""
    deltas: dict[str, int] = {}
    before, after = set(old), set(new)
    for word in before - after:
        deltas[word] = -1
    for word in after - before:
        deltas[word] = 1
    return deltas


class WordCounts:
    """How a batch of rewritten documents changes a generation's word counts."""

    def __init__(self) -> None:
        self._totals: dict[str, int] = {}

    @staticmethod
    def of(statement: str, people: str, body: str) -> list[str]:
        """A document's distinct indexed words, sorted (as stored with it)."""
        return sorted(vocabulary(statement, people, body))

    def replace(self, before: list[str], after: list[str]) -> None:
        """A document's words went from ``before`` to ``after``."""
        for word, delta in word_deltas(before, after).items():
            self._totals[word] = self._totals.get(word, 0) + delta

    def changed(self) -> list[tuple[str, int]]:
        """The words whose count changes and by how much, sorted (one lock order for
        every writer)."""
        return sorted((w, d) for w, d in self._totals.items() if d)


@dataclass(frozen=True)
class Generation:
    """One generation of the index."""

    generation: int
    partitions: int
    state: str  # building, live or old


@dataclass(frozen=True)
class Filters:
    """The list filters a search combines with ``q`` (all must match)."""

    names: frozenset[str] = frozenset()
    updated_after: str | None = None

    @property
    def voided(self) -> bool:
        """Voided claims are searched only when ``status=voided`` is asked."""
        return "status:voided" in self.names


@dataclass(frozen=True)
class Term:
    """One term of a match: alternatives, each a phrase of words; ``prefix`` on single words."""

    alternatives: tuple[tuple[str, ...], ...]


@dataclass
class Row:
    """A document a primitive query found, best first."""

    claim_id: str
    summary: str
    statement: str
    people: str
    body: str
    score: float = 0.0


@dataclass
class Hit:
    """One search result: the claim's summary, its snippet and score."""

    item: dict[str, Any]
    snippet: str
    score: float


@dataclass
class Similar:
    """A claim close to a statement: its summary and its trigram similarity (0 to 1)."""

    item: dict[str, Any]
    score: float


@dataclass
class SearchPage:
    """A page of results and the cursor of the next one (None at the end)."""

    hits: list[Hit]
    next: str | None
    terms: list[str] = field(default_factory=list)


class InvalidSearch(ValueError):
    """A bad search cursor (answer 422)."""


def encode_offset(offset: int) -> str:
    """An opaque cursor for a search page."""
    return base64.urlsafe_b64encode(f"q:{offset}".encode()).decode("ascii").rstrip("=")


def decode_offset(cursor: str) -> int:
    """The offset of a search cursor; raises ``InvalidSearch``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        kind, offset = raw.split(":", 1)
        value = int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidSearch("invalid cursor") from None
    if kind != "q" or not 0 < value < MAX_RESULTS:
        raise InvalidSearch("invalid cursor")
    return value


#: (generation, partition, the claim's document as of a checkpoint) for ``purge``
DocumentAt = Callable[[int], "Document | None"]


class SearchIndex(ABC):
    """A search index of claims in generations; see the module docstring."""

    # -- generations --------------------------------------------------------------------

    @abstractmethod
    def generations(self) -> list[Generation]:
        """Every generation the index holds, oldest first."""

    def live(self) -> Generation | None:
        """The generation searches read, or None before the first rebuild."""
        return next((g for g in self.generations() if g.state == "live"), None)

    def building(self) -> Generation | None:
        """The generation a rebuild is filling, if any."""
        return next((g for g in self.generations() if g.state == "building"), None)

    @abstractmethod
    def create_generation(self, partitions: int) -> Generation:
        """A new, empty generation being built (checkpoints 0), replacing any other
        generation being built."""

    @abstractmethod
    def switch(self, generation: int) -> None:
        """Make a built generation live (the live one becomes old) in one transaction."""

    @abstractmethod
    def drop(self, generation: int) -> None:
        """Delete a generation that is not live."""

    @abstractmethod
    def checkpoints(self, generation: int) -> list[int | None]:
        """The generation's checkpoint per partition (None: no such generation)."""

    @abstractmethod
    def marker(self, generation: int) -> int:
        """The generation's redaction marker (moved by every ``purge``)."""

    # -- writes -------------------------------------------------------------------------

    @abstractmethod
    def apply(
        self, generation: int, partition: int, expected: int, end: int, marker: int,
        docs: Mapping[str, Document | None],
    ) -> bool:
        """Write a batch (None deletes a claim) and move the checkpoint from ``expected``
        to ``end``, in one transaction; False (nothing written) if the checkpoint is not
        ``expected`` or the marker moved."""

    @abstractmethod
    def purge(self, generation: int, partition: int, claim_id: str, doc_at: DocumentAt) -> bool:
        """After a redaction: in one transaction, move the marker and rewrite the claim as
        ``doc_at(checkpoint)`` folds it. False if the generation is gone."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # -- primitive reads (backend) ------------------------------------------------------

    @abstractmethod
    def _match(
        self, generation: int, terms: Sequence[Term], excluded: Sequence[str], *,
        every: bool, filters: Filters, limit: int,
    ) -> list[Row]:
        """Documents matching every term (``every``) or any, ranked best first."""

    @abstractmethod
    def _known(self, generation: int, word: str) -> bool:
        """Whether an indexed word starts with ``word``."""

    @abstractmethod
    def _near(self, generation: int, word: str) -> list[str]:
        """Indexed words that may be ``word`` misspelt (candidates, checked by the caller)."""

    @abstractmethod
    def _present(self, generation: int, candidates: Sequence[str]) -> list[str]:
        """The candidates that are indexed words."""

    @abstractmethod
    def _similar(self, generation: int, text: str, limit: int) -> list[Row]:
        """Candidates for similarity (``Row.body`` holds their similar text)."""

    @abstractmethod
    def count(self, generation: int) -> int:
        """How many claims a generation holds."""

    @abstractmethod
    def snapshot(self, generation: int) -> dict[str, Any]:
        """Everything a generation holds, comparable between indexes (for tests and checks):
        ``{"docs": {claim_id: [fields…]}, "words": {word: count}}``."""

    # -- searching (shared) -------------------------------------------------------------

    def search(
        self, generation: int, q: str, filters: Filters, *, limit: int, cursor: str | None
    ) -> SearchPage:
        """Ranked results for ``q``: claims with every term first, then with some; a
        misspelt word also matches the indexed words a typo or two away."""
        query = parse_query(q)
        offset = decode_offset(cursor) if cursor else 0
        if query.empty:
            return SearchPage([], None)
        terms, expansions = self._terms(generation, query)
        want = min(offset + limit + 1, MAX_RESULTS)
        rows = self._match(generation, terms, query.excluded, every=True, filters=filters,
                           limit=want)
        if len(rows) < want and len(terms) > 1:
            seen = {r.claim_id for r in rows}
            more = self._match(generation, terms, query.excluded, every=False,
                               filters=filters, limit=want)
            rows += [r for r in more if r.claim_id not in seen][: want - len(rows)]
        page = rows[offset: offset + limit]
        hits = [
            Hit(json.loads(r.summary), snippet([r.statement, r.body, r.people], query, expansions),
                round(r.score, 6))
            for r in page
        ]
        following = offset + limit
        more_left = len(rows) > following and following < MAX_RESULTS
        return SearchPage(hits, encode_offset(following) if more_left else None,
                          sorted(set(query.flat()) | set(expansions)))

    def _terms(self, generation: int, query: Query) -> tuple[list[Term], list[str]]:
        terms: list[Term] = []
        expansions: list[str] = []
        for term in query.terms:
            alternatives = [term]
            if len(term) == 1 and not self._known(generation, term[0]):
                candidates = self._near(generation, term[0]) + self._present(
                    generation, typo_neighbours(term[0]))
                near = close_words(term[0], candidates)
                alternatives += [(w,) for w in near]
                expansions += near
            terms.append(Term(tuple(alternatives)))
        return terms, expansions

    def similar(
        self, generation: int, text: str, *, limit: int = 5, threshold: float = 0.0
    ) -> list[Similar]:
        """The claims whose statement or quotes are closest to ``text`` (trigram
        similarity, pg_trgm's measure), best first, at least ``threshold``."""
        wanted = trigrams(text)
        if not wanted:
            return []
        scored = []
        for row in self._similar(generation, text, max(50, limit * 10)):
            parts = [p for p in row.body.split("\n") if p.strip()] or [row.statement]
            score = max(similarity(wanted, part) for part in parts)
            if score >= threshold:
                scored.append((score, row))
        scored.sort(key=lambda pair: (-pair[0], pair[1].claim_id))
        return [Similar(json.loads(row.summary), round(score, 4)) for score, row in scored[:limit]]
