"""The API's side of witnessing: queue a send of each new checkpoint, serve cosignatures.

After appends a background thread (never the request) looks at the latest stored
checkpoint at most twice a second and, when it grew, enqueues one job per witness of
``LEDGER_WITNESSES`` on the ``claimledger-witness`` queue; the worker sends it with
retries (``workers.witnessing``). A Redis that is down only delays witnessing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flask import Flask
from redis.exceptions import RedisError
from rq import Queue

from ledger.envelope import RecordedEvent
from ledger.errors import LedgerError
from ledger.store import EventStore
from ledger.store.tree import StoredCheckpoint
from ledger.witnessed import with_cosignatures
from workers.witnessing import WITNESS_QUEUE, enqueue_witnessing

from .background import Coalesced
from .state import LedgerState
from .view_service import connect

log = logging.getLogger(__name__)

#: least seconds between two looks at the latest checkpoint
GAP_SECONDS = 0.5


class WitnessTrigger:
    """The append hook: queue witnessing jobs when a newer checkpoint was stored."""

    def __init__(self, store: EventStore, redis_url: str, database_url: str,
                 witnesses: Sequence[str]) -> None:
        """Send ``store``'s checkpoints to ``witnesses`` through the queue at ``redis_url``."""
        self.store = store
        self.queue = Queue(WITNESS_QUEUE, connection=connect(redis_url))
        self.database_url = database_url
        self.witnesses = list(witnesses)
        self.sent = -1
        self._call = Coalesced(self.run, "claimledger-witness-trigger", min_gap=GAP_SECONDS)

    def __call__(self, events: Sequence[RecordedEvent]) -> None:
        """After ``events`` committed: look again soon (returns at once, never raises)."""
        if events:
            self._call.poke()

    def run(self) -> None:
        """Enqueue the jobs if the latest checkpoint is newer than the last one queued."""
        try:
            latest = self.store.latest_checkpoint()
            if latest is None or latest.size <= self.sent:
                return
            enqueue_witnessing(self.queue, self.database_url, self.witnesses)
            self.sent = latest.size
        except (RedisError, OSError, LedgerError) as exc:
            log.warning("cannot queue the checkpoint for the witnesses yet: %s", exc)


def served_note(store: EventStore, checkpoint: StoredCheckpoint) -> str:
    """The checkpoint's note with the witnesses' cosignatures of its size appended."""
    cosignatures = store.cosignatures_at(checkpoint.size)
    if not cosignatures:
        return checkpoint.note
    return with_cosignatures(checkpoint.note, (c.line for c in cosignatures))


def init_app(app: Flask, state: LedgerState) -> WitnessTrigger | None:
    """Add the witnessing append hook when witnesses are configured."""
    settings = state.settings
    if not settings.witnesses:
        return None
    trigger = WitnessTrigger(state.store, settings.queues_url, settings.database_url,
                             settings.witnesses)
    app.extensions["claimledger.witnessing"] = trigger
    state.append_hooks.append(trigger)
    return trigger
