"""Event stores: one abstract interface, one module per backend."""

from __future__ import annotations

from .base import EventStore, Idempotency, fingerprint

__all__ = ["EventStore", "Idempotency", "fingerprint", "open_store"]


def open_store(url: str, **options: object) -> EventStore:
    """Open the store named by a URL: ``sqlite:///path`` or ``postgresql://…``."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteEventStore

        return SQLiteEventStore(url[len("sqlite:///") :], **options)  # type: ignore[arg-type]
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresEventStore

        return PostgresEventStore(url, **options)  # type: ignore[arg-type]
    raise ValueError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://")
