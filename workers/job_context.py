"""What every job of the worker shares: its tuning, its store, and the live views.

The worker process's own ``ViewConfig`` tunes each job's config (batch sizes, linger,
…); a job opens the event store with the configured verdict scales; a long rebuild on
a lone worker keeps the live generation current on the way (``LiveHelper``). The view
jobs (``workers.jobs``, ``workers.rebuild``) and the search jobs (``workers.search_jobs``)
take these from here, so none of them imports another.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from redis import Redis
from redis.exceptions import LockError

from ledger.scales import load_scales
from ledger.store import EventStore, open_store

from .config import ViewConfig
from .coordination import Live, read_pointer
from .projector import GenerationGone, Projector

#: the worker process's own config; its tuning applies to every job it runs
_worker_config: ViewConfig | None = None


def tune_jobs(config: ViewConfig) -> None:
    """Make this process's jobs use ``config``'s tuning."""
    global _worker_config
    _worker_config = config


def job_config(data: dict[str, Any]) -> ViewConfig:
    """A job's config from its dict, tuned by the worker's own."""
    config = ViewConfig.from_dict(data)
    return config if _worker_config is None else config.tuned_by(_worker_config)


def open_configured_store(config: ViewConfig) -> EventStore:
    """The event store a job reads, with the configured verdict scales."""
    store = open_store(config.database_url)
    store.scales = load_scales(config.scales_file)
    return store


class LiveHelper:
    """Keeps the live generation current during a long rebuild on a single worker."""

    def __init__(self, redis: Redis, store: EventStore, config: ViewConfig) -> None:
        """Help with the live views of ``config`` from ``store``, at most once a second."""
        self.redis, self.store, self.config = redis, store, config
        self.last = time.monotonic()

    def maybe_help(self) -> None:
        """Catch up the live generation's free partitions if a second has passed."""
        if time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        live = read_pointer(self.redis, self.config.keys)
        if live is None:
            return
        with Projector(self.redis, self.store, self.config, self.store.scales) as projector:
            self._help(projector, live)

    def _help(self, projector: Projector, live: Live) -> None:
        for p in range(live.partitions):
            pk = self.config.keys.part(live.generation, p)
            lock = self.redis.lock(pk.lock, timeout=self.config.lock_ttl, blocking=False)
            if not lock.acquire():
                continue
            try:
                projector.run(live.generation, live.partitions, [p])
            except GenerationGone:
                return
            finally:
                with contextlib.suppress(LockError):
                    lock.release()
