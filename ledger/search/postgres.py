"""The search index on PostgreSQL: ``tsvector`` with GIN, and ``pg_trgm``.

Tables sit beside the ledger's (same schema; the log's tables are never touched, and
appends take no lock the index takes). Per generation ``g``: ``sg{g}_docs`` (the claims'
text, summary, filter names as ``text[]``, a weighted ``tsvector`` of the normalised
statement (A), people (B) and body (C), and the normalised statement and quotes for
``pg_trgm``) and ``sg{g}_words`` (indexed words with counts, trigram-indexed, for
misspelt queries). Words are normalised in Python (``ledger.search.text``) and fed to
the ``simple`` configuration, so both backends index the same words; queries are built
as ``to_tsquery`` expressions of those words (the web-search syntax is parsed once,
in ``text.parse_query``). ``pg_trgm`` is created in schema ``public`` if missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg import sql

from ledger.store.sql import FORMAT

from .base import MAX_BODY, Document, DocumentAt, Filters, Generation, Row, Term, WordCounts
from .connected import ConnectedIndex
from .text import normalized

_GENERATIONS = """
CREATE TABLE IF NOT EXISTS search_generations (
    generation INTEGER PRIMARY KEY, partitions INTEGER NOT NULL, state TEXT NOT NULL,
    marker BIGINT NOT NULL DEFAULT 0)"""
_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS search_checkpoints (
    generation INTEGER NOT NULL, partition INTEGER NOT NULL, position BIGINT NOT NULL,
    PRIMARY KEY (generation, partition))"""
#: advisory lock key serialising the index's schema set-up between processes
SETUP_LOCK_KEY = 0x736561726368
_HIGH = "\U0010ffff"


def _lexeme(word: str, prefix: bool) -> str:
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return quoted + ":*" if prefix and len(word) >= 3 else quoted


def tsquery_expression(terms: Sequence[Term], excluded: Sequence[str], every: bool) -> str:
    """A ``to_tsquery('simple', …)`` expression: alternatives ORed, terms ANDed (or ORed)."""
    groups = []
    for term in terms:
        alts = []
        for i, alt in enumerate(term.alternatives):
            if len(alt) == 1:
                alts.append(_lexeme(alt[0], prefix=(i == 0)))
            else:
                alts.append("(" + " <-> ".join(_lexeme(w, False) for w in alt) + ")")
        groups.append("(" + " | ".join(alts) + ")")
    expression = (" & " if every else " | ").join(groups)
    if excluded:
        expression = f"({expression}) & !(" + " | ".join(_lexeme(w, False) for w in excluded) + ")"
    return expression


class PostgresSearchIndex(ConnectedIndex):
    """See the module docstring."""

    style = FORMAT

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            conn = psycopg.connect(self.url, autocommit=True)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK_KEY,))
                _create_schema_if_missing(conn)
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
                conn.execute(_GENERATIONS)
                conn.execute(_CHECKPOINTS)
            conn.execute("SET pg_trgm.similarity_threshold = 0.3")
            conn.execute("SET pg_trgm.word_similarity_threshold = 0.3")
            self._conn, self._pid = conn, os.getpid()
        return cast("psycopg.Connection[Any]", self._conn)

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                yield conn

    # -- generations --------------------------------------------------------------------

    def create_generation(self, partitions: int) -> Generation:
        """A new empty generation being built; a previous unfinished one is dropped."""
        self._drop_building()
        with self._write() as conn:
            conn.execute("LOCK TABLE search_generations IN EXCLUSIVE MODE")
            row = conn.execute("SELECT coalesce(max(generation), 0) FROM search_generations"
                               ).fetchone()
            g = int(row[0] if row else 0) + 1
            conn.execute("INSERT INTO search_generations VALUES (%s, %s, 'building', 0)",
                         (g, partitions))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO search_checkpoints VALUES (%s, %s, 0)",
                                [(g, p) for p in range(partitions)])
            conn.execute(sql.SQL(
                "CREATE TABLE {} (rid BIGSERIAL PRIMARY KEY, claim_id TEXT NOT NULL UNIQUE,"
                " voided BOOLEAN NOT NULL, updated_at TEXT COLLATE \"C\" NOT NULL,"
                " statement TEXT NOT NULL, people TEXT NOT NULL, body TEXT NOT NULL,"
                " similar_text TEXT NOT NULL, similar_norm TEXT NOT NULL, summary TEXT NOT NULL,"
                " attrs TEXT[] NOT NULL, words TEXT[] NOT NULL, tsv TSVECTOR NOT NULL)").format(
                    sql.Identifier(f"sg{int(g)}_docs")))
            # the tsvector in the row (compressed), the texts out of it: ranking reads every
            # matching claim's, and reading it from TOAST was most of a common word's search
            conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN tsv SET STORAGE MAIN").format(
                sql.Identifier(f"sg{int(g)}_docs")))
            conn.execute(sql.SQL("CREATE INDEX {} ON {} USING GIN (tsv)").format(
                sql.Identifier(f"sg{int(g)}_docs_tsv"), sql.Identifier(f"sg{int(g)}_docs")))
            conn.execute(sql.SQL("CREATE INDEX {} ON {} USING GIN (attrs)").format(
                sql.Identifier(f"sg{int(g)}_docs_attrs"), sql.Identifier(f"sg{int(g)}_docs")))
            conn.execute(sql.SQL(
                "CREATE INDEX {} ON {} USING GIN (similar_norm public.gin_trgm_ops)").format(
                sql.Identifier(f"sg{int(g)}_docs_trgm"), sql.Identifier(f"sg{int(g)}_docs")))
            conn.execute(sql.SQL("CREATE TABLE {} (word TEXT COLLATE \"C\" PRIMARY KEY,"
                                 " n INTEGER NOT NULL)").format(
                                     sql.Identifier(f"sg{int(g)}_words")))
            conn.execute(sql.SQL(
                "CREATE INDEX {} ON {} USING GIN (word public.gin_trgm_ops)").format(
                sql.Identifier(f"sg{int(g)}_words_trgm"), sql.Identifier(f"sg{int(g)}_words")))
        return Generation(g, partitions, "building")

    def drop(self, generation: int) -> None:
        """Delete a generation that is not live."""
        with self._write() as conn:
            row = conn.execute("SELECT state FROM search_generations WHERE generation = %s"
                               " FOR UPDATE", (generation,)).fetchone()
            if row is None or row[0] == "live":
                return
            conn.execute("DELETE FROM search_checkpoints WHERE generation = %s", (generation,))
            conn.execute("DELETE FROM search_generations WHERE generation = %s", (generation,))
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(
                sql.Identifier(f"sg{int(generation)}_docs"),
                sql.Identifier(f"sg{int(generation)}_words")))

    def count(self, generation: int) -> int:
        """How many claims the generation holds."""
        with self._read() as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(f"sg{int(generation)}_docs"))).fetchone()
        return int(row[0]) if row else 0

    def snapshot(self, generation: int) -> dict[str, Any]:
        """See ``SearchIndex.snapshot``."""
        with self._read() as conn:
            docs = conn.execute(sql.SQL(
                "SELECT claim_id, voided, updated_at, statement, people, body, similar_text,"
                " summary, array_to_string(words, ' '), tsv::text, similar_norm,"
                " array_to_string(attrs, '|') FROM {}").format(
                sql.Identifier(f"sg{int(generation)}_docs"))).fetchall()
            counted = conn.execute(sql.SQL("SELECT word, n FROM {}").format(
                sql.Identifier(f"sg{int(generation)}_words"))).fetchall()
        return {"docs": {r[0]: list(r[1:]) for r in docs},
                "words": {str(w): int(n) for w, n in counted}}

    # -- writes -------------------------------------------------------------------------

    def _claim_batch(self, conn: Any, generation: int, partition: int
                     ) -> tuple[int, int] | None:
        # the generation's row first (shared), then the partition's: as purge does
        row = conn.execute("SELECT marker FROM search_generations WHERE generation = %s"
                           " FOR SHARE", (generation,)).fetchone()
        cp = conn.execute("SELECT position FROM search_checkpoints WHERE generation = %s"
                          " AND partition = %s FOR UPDATE", (generation, partition)).fetchone()
        return None if row is None or cp is None else (int(cp[0]), int(row[0]))

    def _write_docs(self, conn: Any, generation: int,
                    docs: Mapping[str, Document | None]) -> None:
        _write_docs(conn, generation, docs)

    def purge(self, generation: int, partition: int, claim_id: str, doc_at: DocumentAt) -> bool:
        """Move the marker and rewrite the claim as of the partition's checkpoint."""
        with self._write() as conn:
            moved = conn.execute("UPDATE search_generations SET marker = marker + 1"
                                 " WHERE generation = %s RETURNING marker", (generation,)
                                 ).fetchone()
            cp = conn.execute("SELECT position FROM search_checkpoints WHERE generation = %s"
                              " AND partition = %s FOR UPDATE", (generation, partition)).fetchone()
            if moved is None or cp is None:
                return False
            _write_docs(conn, generation, {claim_id: doc_at(int(cp[0]))})
        return True

    # -- primitive reads ----------------------------------------------------------------

    def _match(
        self, generation: int, terms: Sequence[Term], excluded: Sequence[str], *,
        every: bool, filters: Filters, limit: int,
    ) -> list[Row]:
        params: list[Any] = [
            tsquery_expression(terms, excluded, every), filters.voided,
            filters.updated_after or "", sorted(filters.names), limit,
        ]
        query = sql.SQL(
            "SELECT claim_id, summary, statement, people, body, ts_rank(tsv, q) AS rank"
            " FROM {}, to_tsquery('simple', %s) AS q WHERE tsv @@ q AND (%s OR NOT voided)"
            " AND updated_at > %s AND attrs @> %s::text[]"
            " ORDER BY rank DESC, claim_id LIMIT %s"
        ).format(sql.Identifier(f"sg{int(generation)}_docs"))
        with self._read() as conn:
            rows = conn.execute(query, params).fetchall()
        return [Row(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows]

    def _known(self, generation: int, word: str) -> bool:
        with self._read() as conn:
            row = conn.execute(sql.SQL(
                "SELECT 1 FROM {} WHERE word >= %s AND word < %s LIMIT 1").format(
                sql.Identifier(f"sg{int(generation)}_words")), (word, word + _HIGH)).fetchone()
        return row is not None

    def _near(self, generation: int, word: str) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(sql.SQL(
                "SELECT word FROM {} WHERE word OPERATOR(public.%%) %s"
                " ORDER BY public.similarity(word, %s) DESC LIMIT 200").format(
                sql.Identifier(f"sg{int(generation)}_words")), (word, word)).fetchall()
        return [str(r[0]) for r in rows]

    def _present(self, generation: int, candidates: Sequence[str]) -> list[str]:
        with self._read() as conn:
            rows = conn.execute(sql.SQL("SELECT word FROM {} WHERE word = ANY(%s::text[])").format(
                sql.Identifier(f"sg{int(generation)}_words")), (list(candidates),)).fetchall()
        return [str(r[0]) for r in rows]

    def _similar(self, generation: int, text: str, limit: int) -> list[Row]:
        """Candidates: claims holding any of the text's longest words (the GIN ``tsvector``
        index, ranked), rescored by trigram similarity by the caller. (``<%`` on the
        trigram index was 150 ms a statement on 2,000 claims.)"""
        found = sorted({w for w in normalized(text).split() if len(w) >= 3},
                       key=lambda w: (-len(w), w))[:16]
        if not found:
            return []
        expression = " | ".join(_lexeme(w, False) for w in found)
        with self._read() as conn:
            rows = conn.execute(sql.SQL(
                "SELECT claim_id, summary, statement, similar_text FROM {},"
                " to_tsquery('simple', %s) AS q WHERE tsv @@ q AND NOT voided"
                " ORDER BY ts_rank(tsv, q) DESC, claim_id LIMIT %s"
            ).format(sql.Identifier(f"sg{int(generation)}_docs")), (expression, limit)).fetchall()
        return [Row(r[0], r[1], r[2], "", r[3]) for r in rows]


def _create_schema_if_missing(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("SELECT current_schema(), current_setting('search_path')").fetchone()
    if row is None or row[0] is not None:
        return
    for item in str(row[1]).split(","):
        name = item.strip().strip('"')
        if name and name != "$user":
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
            return


def _write_docs(conn: psycopg.Connection[Any], g: int, docs: Mapping[str, Document | None]
                ) -> None:
    """Replace (or delete, for None) claims' rows in generation ``g``; word counts follow."""
    counts = WordCounts()
    for claim_id, doc in docs.items():
        old = conn.execute(sql.SQL("DELETE FROM {} WHERE claim_id = %s RETURNING words").format(
            sql.Identifier(f"sg{int(g)}_docs")), (claim_id,)).fetchone()
        before: list[str] = list(old[0]) if old is not None else []
        after: list[str] = []
        if doc is not None:
            statement, people, body, similar = doc.normalized()
            after = WordCounts.of(statement, people, body)
            conn.execute(sql.SQL(
                "INSERT INTO {} (claim_id, voided, updated_at, statement, people, body,"
                " similar_text, similar_norm, summary, attrs, words, tsv) VALUES (%s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s, %s, setweight(to_tsvector('simple', %s), 'A')"
                " || setweight(to_tsvector('simple', %s), 'B')"
                " || setweight(to_tsvector('simple', %s), 'C'))").format(
                sql.Identifier(f"sg{int(g)}_docs")),
                (claim_id, "status:voided" in doc.attrs, doc.updated_at, doc.statement,
                 doc.people, doc.body[:MAX_BODY], doc.similar_text, similar, doc.summary,
                 sorted(set(doc.attrs)), after, statement, people, body))
        counts.replace(before, after)
    changed = counts.changed()
    if not changed:
        return
    conn.execute(sql.SQL(
        "INSERT INTO {} AS w (word, n) SELECT * FROM unnest(%s::text[], %s::int[])"
        " ON CONFLICT (word) DO UPDATE SET n = w.n + EXCLUDED.n").format(
        sql.Identifier(f"sg{int(g)}_words")), ([w for w, _ in changed], [d for _, d in changed]))
    gone = [w for w, d in changed if d < 0]
    if gone:
        conn.execute(sql.SQL("DELETE FROM {} WHERE word = ANY(%s::text[]) AND n <= 0").format(
            sql.Identifier(f"sg{int(g)}_words")), (gone,))
