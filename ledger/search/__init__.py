"""The search index: one abstract interface, one module per backend (like the store)."""

from __future__ import annotations

from .base import (
    Document,
    Filters,
    Generation,
    Hit,
    InvalidSearch,
    SearchIndex,
    SearchPage,
    Similar,
)

__all__ = [
    "Document", "Filters", "Generation", "Hit", "InvalidSearch", "SearchIndex", "SearchPage",
    "Similar", "open_search_index", "search_location",
]


def search_location(database_url: str) -> str:
    """Where the index of a ledger lives: a file beside a SQLite ledger's
    (``<file>.search``), tables beside a PostgreSQL ledger's (same schema)."""
    if database_url.startswith("sqlite:///"):
        path = database_url[len("sqlite:///"):]
        return "sqlite:///" + (path if path == ":memory:" else path + ".search")
    return database_url


def open_search_index(database_url: str) -> SearchIndex:
    """The search index of the ledger at ``database_url`` (sqlite:/// or postgresql://)."""
    location = search_location(database_url)
    if location.startswith("sqlite:///"):
        from .sqlite import SQLiteSearchIndex

        return SQLiteSearchIndex(location[len("sqlite:///"):])
    if location.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresSearchIndex

        return PostgresSearchIndex(location)
    raise ValueError(f"unsupported database URL {location.split(':', 1)[0]!r}")
