"""The search index contract on every backend (see search_contract.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration import search_contract as contract

CHECKS = [name for name in dir(contract) if name.startswith("check_")]


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, sqlite_urls: Callable[[], str]) -> str:
    """A fresh ledger: a SQLite file (the index beside it) or a PostgreSQL schema."""
    if request.param == "sqlite":
        return sqlite_urls()
    make: Callable[[], str] = request.getfixturevalue("postgres_urls")
    return make()


@pytest.mark.parametrize("check", CHECKS)
def test_contract(check: str, ledger_url: str) -> None:
    getattr(contract, check)(ledger_url)
