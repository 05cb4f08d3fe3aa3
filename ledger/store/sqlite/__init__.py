"""The SQLite backend: one file, one host (``local``), laid out as the PostgreSQL one:
``store`` (the EventStore), ``connection``, ``schema``, ``write`` (the append
transaction) and ``tree`` (node reads)."""

from __future__ import annotations

from .store import SQLiteEventStore

__all__ = ["SQLiteEventStore"]
