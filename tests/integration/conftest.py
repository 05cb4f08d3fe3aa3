"""Fixtures for the store contract suite: fresh SQLite files and fresh PostgreSQL schemas."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

# the contract lives in a plain module: let pytest explain its failed assertions too
pytest.register_assert_rewrite(
    "tests.integration.store_contract", "tests.integration.search_contract"
)

POSTGRES_ENV = "LEDGER_TEST_POSTGRES_URL"
#: set to 1 (as CI may) to make a missing PostgreSQL a failure instead of a skip
REQUIRE_POSTGRES_ENV = "LEDGER_TEST_REQUIRE_POSTGRES"


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters added (``options`` values are appended, not replaced)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in params.items():
        if name == "options" and query.get("options"):
            value = f"{query['options']} {value}"
        query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def with_schema(url: str, schema: str) -> str:
    """A PostgreSQL URL whose sessions use ``schema`` as their search_path."""
    return with_query(url, options=f"-csearch_path={schema}")


@pytest.fixture
def sqlite_urls(tmp_path: Path) -> Callable[[], str]:
    """Make URLs of fresh SQLite files in the test's temporary directory."""
    counter = itertools.count(1)
    return lambda: f"sqlite:///{tmp_path / f'ledger-{next(counter)}.db'}"


@pytest.fixture
def postgres_base_url() -> str:
    """The PostgreSQL server the tests may use; the test is skipped when none is configured."""
    url = os.environ.get(POSTGRES_ENV, "")
    if not url:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"{POSTGRES_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return url


@pytest.fixture
def postgres_urls(postgres_base_url: str) -> Iterator[Callable[..., str]]:
    """Make URLs of fresh PostgreSQL schemas, all dropped when the test ends."""
    import psycopg
    from psycopg import sql

    schemas: list[str] = []

    def make(create: bool = True) -> str:
        schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
        schemas.append(schema)
        if create:
            with psycopg.connect(postgres_base_url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        return with_schema(postgres_base_url, schema)

    yield make
    with psycopg.connect(postgres_base_url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
