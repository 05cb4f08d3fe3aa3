"""The RQ jobs: catch-up of a partition, rebuild, the periodic tick, generation drop.

Each job gets the ``ViewConfig`` as a dict and uses the Redis connection RQ gave it,
or, when the worker keeps the views elsewhere (a Redis Cluster), a client of those with
RQ's connection attached for the queues (``config.connect_views``).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job

from . import rebuild as rebuilding
from .config import REBUILD_QUEUE, ViewConfig, connect_views, mget, text
from .coordination import (
    HANDOFF_SECONDS,
    arm_tick,
    read_pointer,
    renew_if,
    repair_trigger,
    start_rebuild,
    will_run,
)
from .job_context import job_config, open_configured_store, tune_jobs
from .search_jobs import ensure as ensure_search
from .search_jobs import tick as search_tick

log = logging.getLogger(__name__)

#: where the worker's views live when not on the queues' Redis (never sent in a job)
_views_url: str | None = None
#: the views client of this process (a job's work horse), for ``_views_url``
_views: dict[int, Redis] = {}


def use_worker_config(config: ViewConfig, views_url: str | None = None) -> None:
    """Make this process's jobs use ``config``'s tuning (batch sizes, linger, …) and,
    given ``views_url``, the views there rather than on the queues' Redis."""
    global _views_url
    tune_jobs(config)
    _views_url = views_url


def _current() -> tuple[Redis, Job]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("this function runs as an RQ job")
    if _views_url is None:
        return job.connection, job
    pid = os.getpid()  # a client is not shared across the fork of a work horse
    if pid not in _views:
        _views.clear()
        _views[pid] = connect_views(_views_url, queue=job.connection)
    return _views[pid], job


def catch_up(config: dict[str, Any], partition: int) -> int:
    """Drain one partition of the live views to the head; returns its checkpoint."""
    redis, job = _current()
    cfg = job_config(config)
    store = open_configured_store(cfg)
    try:
        return rebuilding.catch_up(redis, store, cfg, partition, job.id)
    finally:
        store.close()


def rebuild(config: dict[str, Any], reason: str = "operator") -> dict[str, Any]:
    """Build a new generation of the views and switch to it; progress in ``job.meta``."""
    redis, job = _current()
    cfg = job_config(config)
    # the lock was taken for as long as the job might wait in the queue: shorten it at
    # once, so that if this job dies before its first batch the tick resumes it soon
    renew_if(redis, cfg.keys.rebuild_lock, job.id, rebuilding.rebuild_lock_ttl(cfg))
    store = open_configured_store(cfg)
    last = 0.0

    def progress(processed: int, head: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < 0.2 and processed < head:
            return
        last = now
        job.meta.update(
            processed=processed,
            head=head,
            percent=round(100.0 * processed / head, 1) if head else 100.0,
        )
        job.save_meta()  # type: ignore[no-untyped-call]

    try:
        job.meta.update(kind="rebuild", reason=reason, head=store.head(), processed=0)
        job.save_meta()  # type: ignore[no-untyped-call]
        result = rebuilding.rebuild(redis, store, cfg, job.id, on_progress=progress)
    finally:
        store.close()
    ensure_search(redis, cfg)
    if result is None:
        return {"skipped": "another rebuild is running"}
    job.meta.update(generation=result.generation, percent=100.0)
    job.save_meta()  # type: ignore[no-untyped-call]
    return {
        "generation": result.generation,
        "previous": result.previous,
        "head": result.head,
        "seconds": round(result.seconds, 3),
    }


def diagnose(redis: Redis, config: ViewConfig, head: int) -> str | None:
    """Why the views need a rebuild (missing, incomplete, stale), or None if they don't."""
    keys = config.keys
    live = read_pointer(redis, keys)
    if live is None:
        return "no views"
    if live.partitions != config.partitions:
        return f"partitions changed from {live.partitions} to {config.partitions}"
    raw = mget(redis, [keys.part(live.generation, p).checkpoint for p in range(live.partitions)])
    if any(value is None for value in raw):
        return "views incomplete"
    if any(int(text(value) or 0) > head for value in raw):
        return "views ahead of the log (a different or restored log?)"
    return None


def tick(config: dict[str, Any]) -> dict[str, Any]:
    """Periodic check: rebuild missing views, resume a dead rebuild, re-trigger lagging
    partitions, re-arm."""
    redis, _ = _current()
    cfg = job_config(config)
    keys = cfg.keys
    arm_tick(redis, cfg)
    store = open_configured_store(cfg)
    try:
        head = store.head()
    finally:
        store.close()
    redis.hset(keys.stats, "last_tick", time.time())
    reason = diagnose(redis, cfg, head)
    if reason is not None:
        holder = text(redis.get(keys.rebuild_lock))
        if holder is not None and will_run(
            redis, holder, REBUILD_QUEUE, running=True, handoff=HANDOFF_SECONDS
        ):
            return {"rebuild": holder}
        log.warning("views need a rebuild: %s", reason)
        return {"rebuild": start_rebuild(redis, cfg, reason=reason), "reason": reason}
    # a rebuild sets its lock before the half-built generation and deletes that before
    # releasing the lock: a generation being built with no lock means its job died
    if redis.exists(keys.building) and not redis.exists(keys.rebuild_lock):
        log.warning("resuming a rebuild whose job died")
        reason = "resume an interrupted rebuild"
        return {"rebuild": start_rebuild(redis, cfg, reason=reason), "reason": reason}
    live = read_pointer(redis, keys)
    assert live is not None
    search_reason, search_lags = search_tick(redis, cfg, head)
    repaired = []
    for p in range(live.partitions):
        pk = keys.part(live.generation, p)
        cp = int(text(redis.get(pk.checkpoint)) or 0)
        if (cp < head or p in search_lags) and not redis.exists(pk.lock) and repair_trigger(
            redis, cfg, p
        ):
            repaired.append(p)
    return {"head": head, "repaired": repaired, "search": search_reason}


def drop_generation(config: dict[str, Any], generation: int, partitions: int) -> int:
    """Delete an old generation's keys in chunks; returns how many were deleted."""
    redis, _ = _current()
    return rebuilding.drop_generation(redis, job_config(config), generation, partitions)
