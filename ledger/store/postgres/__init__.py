"""The PostgreSQL backend, laid out as the SQLite one: ``store`` (the EventStore),
``connection`` (with ``outage``), ``schema``, ``write`` (the append transaction, under the
advisory lock ``APPEND_LOCK_KEY``) and ``tree`` (node reads)."""

from __future__ import annotations

from .store import PostgresEventStore
from .write import APPEND_LOCK_KEY

__all__ = ["APPEND_LOCK_KEY", "PostgresEventStore"]
