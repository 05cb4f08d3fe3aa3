"""Fixtures for the store contract suite: fresh SQLite files and fresh PostgreSQL schemas."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.postgres import POSTGRES_ENV, REQUIRE_POSTGRES_ENV, with_schema

# the contract lives in a plain module: let pytest explain its failed assertions too
pytest.register_assert_rewrite(
    "tests.integration.store_contract", "tests.integration.search_contract"
)


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
