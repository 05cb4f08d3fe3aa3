"""The store a command works on: the configured one, closed when the command ends."""

from __future__ import annotations

import click

from ledger.scales import load_scales
from ledger.store import EventStore, open_store

from ..settings import Settings


def store_from(settings: Settings) -> EventStore:
    """Open the configured store with the configured verdict scales."""
    store = open_store(settings.database_url, scales=load_scales(settings.scales_file))
    context = click.get_current_context(silent=True)
    if context is not None:  # closed with the command (its pool too, not left to the GC)
        context.call_on_close(store.close)
    return store
