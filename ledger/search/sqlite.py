"""The search index on SQLite: FTS5 in a file of its own beside the ledger's.

The ledger's file holds only the log; the index lives in ``<ledger file>.search`` (WAL,
its own write lock), so indexing never blocks an append. Per generation ``g``:
``sg{int(g)}_docs`` (the claims' text, summary and filter flags), ``sg{int(g)}_attrs`` (filter
names), ``sg{int(g)}_words`` (the indexed words with counts, for misspelt queries),
``sg{int(g)}_fts`` (contentless FTS5, ``unicode61 remove_diacritics 2``, over the normalised
statement, people and body) and ``sg{int(g)}_tri`` (contentless FTS5 ``trigram`` over the
statement and quotes, for similar claims).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from ledger.store.sql import QMARK

from .base import MAX_BODY, Document, DocumentAt, Filters, Generation, Row, Term, WordCounts
from .connected import ConnectedIndex
from .sqlite_ranking import Ranking, fts_expression

__all__ = ["SQLiteSearchIndex", "fts_expression"]
from .text import words

_META = """
CREATE TABLE IF NOT EXISTS search_generations (
    generation INTEGER PRIMARY KEY, partitions INTEGER NOT NULL, state TEXT NOT NULL,
    marker INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS search_checkpoints (
    generation INTEGER NOT NULL, partition INTEGER NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (generation, partition));
"""

_HIGH = "\U0010ffff"


class SQLiteSearchIndex(ConnectedIndex):
    """See the module docstring."""

    style = QMARK

    def __init__(self, path: str, *, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        super().__init__()

    # -- connection ---------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA secure_delete=ON")  # a purged redaction leaves no bytes
            conn.executescript(_META)
            self._conn, self._pid = conn, os.getpid()
        return cast(sqlite3.Connection, self._conn)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- generations --------------------------------------------------------------------

    def create_generation(self, partitions: int) -> Generation:
        """A new empty generation being built; a previous unfinished one is dropped."""
        self._drop_building()
        with self._write() as conn:
            row = conn.execute("SELECT max(generation) FROM search_generations").fetchone()
            generation = int(row[0] or 0) + 1
            conn.execute("INSERT INTO search_generations VALUES (?, ?, 'building', 0)",
                         (generation, partitions))
            conn.executemany("INSERT INTO search_checkpoints VALUES (?, ?, 0)",
                             [(generation, p) for p in range(partitions)])
            _create_tables(conn, generation)
        return Generation(generation, partitions, "building")

    def drop(self, generation: int) -> None:
        """Delete a generation that is not live."""
        with self._write() as conn:
            row = conn.execute("SELECT state FROM search_generations WHERE generation = ?",
                               (generation,)).fetchone()
            if row is None or row[0] == "live":
                return
            conn.execute("DELETE FROM search_checkpoints WHERE generation = ?", (generation,))
            conn.execute("DELETE FROM search_generations WHERE generation = ?", (generation,))
            g = int(generation)
            conn.execute(f"DROP TABLE IF EXISTS sg{int(g)}_docs")
            conn.execute(f"DROP TABLE IF EXISTS sg{int(g)}_attrs")
            conn.execute(f"DROP TABLE IF EXISTS sg{int(g)}_words")
            conn.execute(f"DROP TABLE IF EXISTS sg{int(g)}_fts")
            conn.execute(f"DROP TABLE IF EXISTS sg{int(g)}_tri")

    def count(self, generation: int) -> int:
        """How many claims the generation holds."""
        with self._read() as conn:
            return int(conn.execute(f"SELECT count(*) FROM sg{int(generation)}_docs").fetchone()[0])

    def snapshot(self, generation: int) -> dict[str, Any]:
        """See ``SearchIndex.snapshot``."""
        g = int(generation)
        with self._read() as conn:
            docs = conn.execute(
                f"SELECT d.claim_id, d.voided, d.updated_at, d.statement, d.people, d.body,"
                f" d.similar_text, d.summary, d.words, f.statement, f.people, f.body, t.similar,"
                f" (SELECT group_concat(name, '|') FROM (SELECT name FROM sg{int(g)}_attrs a"
                f" WHERE a.rid = d.rid ORDER BY name))"
                f" FROM sg{int(g)}_docs d JOIN sg{int(g)}_fts f ON f.rowid = d.rid"
                f" JOIN sg{int(g)}_tri t ON t.rowid = d.rid").fetchall()
            counted = conn.execute(f"SELECT word, n FROM sg{int(g)}_words").fetchall()
        return {"docs": {r[0]: [bool(r[1]), *r[2:]] for r in docs},
                "words": {str(w): int(n) for w, n in counted}}

    # -- writes -------------------------------------------------------------------------

    def _claim_batch(self, conn: Any, generation: int, partition: int
                     ) -> tuple[int, int] | None:
        row = conn.execute(
            "SELECT c.position, g.marker FROM search_checkpoints c JOIN search_generations g"
            " USING (generation) WHERE generation = ? AND partition = ?",
            (generation, partition),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def _write_docs(self, conn: Any, generation: int,
                    docs: Mapping[str, Document | None]) -> None:
        _write_docs(conn, generation, docs)

    def purge(self, generation: int, partition: int, claim_id: str, doc_at: DocumentAt) -> bool:
        """Move the marker and rewrite the claim as of the partition's checkpoint."""
        with self._write() as conn:
            row = conn.execute("SELECT position FROM search_checkpoints WHERE generation = ?"
                               " AND partition = ?", (generation, partition)).fetchone()
            if row is None:
                return False
            conn.execute("UPDATE search_generations SET marker = marker + 1 WHERE generation = ?",
                         (generation,))
            _write_docs(conn, generation, {claim_id: doc_at(int(row[0]))})
        with self._read() as conn:  # the old pages (zeroed: secure_delete) leave the WAL too
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    # -- primitive reads ----------------------------------------------------------------

    def _match(
        self, generation: int, terms: Sequence[Term], excluded: Sequence[str], *,
        every: bool, filters: Filters, limit: int,
    ) -> list[Row]:
        """See ``sqlite_ranking``: ranked by BM25, ties by claim id, in one snapshot."""
        with self._read() as conn:
            conn.execute("BEGIN")
            try:
                return Ranking(conn, generation, filters).match(terms, excluded, every, limit)
            finally:
                conn.execute("COMMIT")

    def _known(self, generation: int, word: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT 1 FROM sg{int(generation)}_words WHERE word >= ? AND word < ? LIMIT 1",
                (word, word + _HIGH),
            ).fetchone()
        return row is not None

    def _near(self, generation: int, word: str) -> list[str]:
        """The indexed words sharing the first letter whose second or third letter fits a
        typo at or after the second letter (a dropped, added, swapped or wrong letter)."""
        if len(word) < 3:
            return []
        second, third = word[1], word[2]
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT word FROM sg{int(generation)}_words WHERE word >= ? AND word < ?"
                " AND length(word) BETWEEN ? AND ? AND (substr(word, 2, 1) IN (?, ?)"
                " OR substr(word, 3, 1) IN (?, ?)) LIMIT 20000",
                (word[0], word[0] + _HIGH, len(word) - 2, len(word) + 2, second, third,
                 second, third),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def _present(self, generation: int, candidates: Sequence[str]) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT word FROM sg{int(generation)}_words WHERE word IN"
                " (SELECT value FROM json_each(?))", (json.dumps(list(candidates)),),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def _similar(self, generation: int, text: str, limit: int) -> list[Row]:
        """Candidates: claims holding the text's longest words as substrings of their
        statement or quotes (the ``trigram`` table), and by its words anywhere (BM25)."""
        found = sorted({w for w in words(text) if len(w) >= 3}, key=lambda w: (-len(w), w))
        if not found:
            return []
        g = int(generation)
        substrings = " OR ".join('"' + w.replace('"', '""') + '"' for w in found[:6])
        any_word = " OR ".join('"' + w.replace('"', '""') + '"' for w in found[:16])
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT d.claim_id, d.summary, d.statement, d.similar_text FROM sg{int(g)}_docs d"
                f" WHERE d.voided = 0 AND d.rid IN (SELECT rowid FROM sg{int(g)}_tri"
                f" WHERE sg{int(g)}_tri MATCH ? ORDER BY rank LIMIT ?)"
                f" UNION SELECT d.claim_id, d.summary, d.statement, d.similar_text"
                f" FROM sg{int(g)}_docs d WHERE d.voided = 0 AND d.rid IN (SELECT rowid"
                f" FROM sg{int(g)}_fts WHERE sg{int(g)}_fts MATCH ? ORDER BY rank LIMIT ?)",
                (substrings, limit, any_word, limit),
            ).fetchall()
        return [Row(r[0], r[1], r[2], "", r[3]) for r in rows]


def _create_tables(conn: sqlite3.Connection, g: int) -> None:
    """The tables of generation ``g`` (see the module docstring)."""
    conn.execute(
        f"CREATE TABLE sg{int(g)}_docs (rid INTEGER PRIMARY KEY, claim_id TEXT NOT NULL UNIQUE,"
        " voided INTEGER NOT NULL, updated_at TEXT NOT NULL, statement TEXT NOT NULL,"
        " people TEXT NOT NULL, body TEXT NOT NULL, similar_text TEXT NOT NULL,"
        " summary TEXT NOT NULL, words TEXT NOT NULL)")
    conn.execute(f"CREATE TABLE sg{int(g)}_attrs (name TEXT NOT NULL, rid INTEGER NOT NULL,"
                 " PRIMARY KEY (name, rid)) WITHOUT ROWID")
    _index_attrs(conn, g)
    conn.execute(f"CREATE TABLE sg{int(g)}_words (word TEXT PRIMARY KEY, n INTEGER NOT NULL)"
                 " WITHOUT ROWID")
    conn.execute(f"CREATE VIRTUAL TABLE sg{int(g)}_fts USING fts5(statement, people, body,"
                 " tokenize='unicode61 remove_diacritics 2')")
    conn.execute(f"CREATE VIRTUAL TABLE sg{int(g)}_tri USING fts5(similar, tokenize='trigram')")


def _index_attrs(conn: sqlite3.Connection, g: int) -> None:
    """The filter names by claim row: without it, replacing a claim's names scans every
    claim's (a rebuild, which rewrites a claim each batch that touches it, went quadratic:
    358 events/s at 100,000 events). Generations made before it get it on their next write."""
    conn.execute(f"CREATE INDEX IF NOT EXISTS sg{int(g)}_attrs_rid ON sg{int(g)}_attrs (rid)")


def _write_docs(conn: sqlite3.Connection, g: int, docs: Mapping[str, Document | None]) -> None:
    """Replace (or delete, for None) claims' rows in generation ``g``; word counts follow.

    Every old row goes first, in rowid order, then every new one: FTS5 writes its pending
    terms out as a new segment whenever a rowid is not above the last one it was given, so
    deleting and inserting claim by claim made a segment (and merges) per rewritten claim
    (a rebuild rewrites a claim in each batch that touches it)."""
    _index_attrs(conn, g)
    counts = WordCounts()
    old: dict[str, tuple[int, list[str]]] = {}
    for claim_id in docs:
        row = conn.execute(f"SELECT rid, words FROM sg{int(g)}_docs WHERE claim_id = ?",
                           (claim_id,)).fetchone()
        if row is not None:
            old[claim_id] = (int(row[0]), str(row[1]).split())
    rids = sorted((rid,) for rid, _ in old.values())
    conn.executemany(f"DELETE FROM sg{int(g)}_fts WHERE rowid = ?", rids)
    conn.executemany(f"DELETE FROM sg{int(g)}_tri WHERE rowid = ?", rids)
    conn.executemany(f"DELETE FROM sg{int(g)}_attrs WHERE rid = ?", rids)
    conn.executemany(f"DELETE FROM sg{int(g)}_docs WHERE rid = ?", rids)
    for claim_id, doc in docs.items():
        before = old[claim_id][1] if claim_id in old else []
        after: list[str] = []
        if doc is not None:
            statement, people, body, similar = doc.normalized()
            after = WordCounts.of(statement, people, body)
            cursor = conn.execute(
                f"INSERT INTO sg{int(g)}_docs (claim_id, voided, updated_at, statement, people,"
                " body, similar_text, summary, words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (claim_id, int("status:voided" in doc.attrs), doc.updated_at, doc.statement,
                 doc.people, doc.body[:MAX_BODY], doc.similar_text, doc.summary, " ".join(after)),
            )
            rid = cursor.lastrowid
            conn.execute(f"INSERT INTO sg{int(g)}_fts (rowid, statement, people, body)"
                         " VALUES (?, ?, ?, ?)", (rid, statement, people, body))
            conn.execute(f"INSERT INTO sg{int(g)}_tri (rowid, similar) VALUES (?, ?)",
                         (rid, similar))
            conn.executemany(f"INSERT INTO sg{int(g)}_attrs (name, rid) VALUES (?, ?)",
                             [(name, rid) for name in sorted(set(doc.attrs))])
        counts.replace(before, after)
    changed = counts.changed()
    if changed:
        conn.executemany(f"INSERT INTO sg{int(g)}_words (word, n) VALUES (?, ?)"
                         " ON CONFLICT (word) DO UPDATE SET n = n + excluded.n", changed)
        conn.executemany(f"DELETE FROM sg{int(g)}_words WHERE word = ? AND n <= 0",
                         [(w,) for w, d in changed if d < 0])
