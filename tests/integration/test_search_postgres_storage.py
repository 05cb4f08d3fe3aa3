"""PostgreSQL's search index keeps each claim's ``tsvector`` in its row, not in TOAST:
ranking reads the tsvector of every claim a query matches."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from ledger.search.postgres import PostgresSearchIndex


def test_a_new_generation_keeps_the_tsvector_in_the_row_and_the_texts_out_of_it(
    postgres_urls: Callable[[], str],
) -> None:
    url = postgres_urls()
    index = PostgresSearchIndex(url)
    generation = index.create_generation(1).generation
    index.close()
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.attname, a.attstorage FROM pg_attribute a"
            " WHERE a.attrelid = %s::regclass AND a.attname IN ('tsv', 'body')",
            (f"sg{generation}_docs",)).fetchall()
    assert dict(rows) == {"tsv": "m", "body": "x"}
