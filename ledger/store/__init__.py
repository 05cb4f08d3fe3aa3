"""Event stores: one abstract interface, one module per backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import EventStore, fingerprint
from .writing import Idempotency

if TYPE_CHECKING:
    from ..scales import Scales

__all__ = ["EventStore", "Idempotency", "fingerprint", "open_store"]


def open_store(url: str, *, scales: Scales | None = None, **options: object) -> EventStore:
    """Open the store named by a URL: ``sqlite:///path`` or ``postgresql://…``.

    ``scales``, when given, are the verdict scales corrections are checked against.
    """
    store: EventStore
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteEventStore

        store = SQLiteEventStore(url[len("sqlite:///") :], **options)  # type: ignore[arg-type]
    elif url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresEventStore

        store = PostgresEventStore(url, **options)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://")
    if scales is not None:
        store.scales = scales
    return store
