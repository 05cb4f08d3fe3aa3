"""The search index's RQ side: its rebuild job and what the tick and catch-up do for it.

Catch-up needs no job of its own: the views' catch-up job of a partition brings the
index's partition along (``step``). The rebuild is a job on the rebuild queue under its
own lock (``{ns}:search-rebuild``), so it runs beside a views rebuild.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from rq import Queue, get_current_job

from ledger.search import SearchIndex, open_search_index
from ledger.store import EventStore

from .config import REBUILD_QUEUE, ViewConfig, text
from .coordination import HANDOFF_SECONDS, job_id, release_if, renew_if, will_run
from .job_context import LiveHelper, job_config, open_configured_store
from .search import catch_up_search, drop_old, rebuild_search

log = logging.getLogger(__name__)

#: how long the rebuild lock lasts while its job waits in the queue
QUEUED_TTL = 600


def lock_key(config: ViewConfig) -> str:
    """Held (value: the RQ job id) while a search rebuild is queued or runs."""
    return f"{config.namespace}:search-rebuild"


def open_index(config: ViewConfig) -> SearchIndex | None:
    """The deployment's search index, None when search is switched off."""
    return open_search_index(config.database_url) if config.search else None


def step(config: ViewConfig, store: EventStore, partition: int, until: int) -> None:
    """After a views batch: bring the index's partition to ``until`` (never raises: the
    views go on, and the tick triggers the partition again while the index lags)."""
    if not config.search:
        return
    index = open_index(config)
    if index is None:
        return
    try:
        catch_up_search(index, store, store.scales, partition, batch_size=config.batch_size,
                        until=until)
    except Exception as exc:
        log.warning("search catch-up of partition %s failed: %s", partition, exc)
    finally:
        index.close()


def start_search_rebuild(redis: Redis, config: ViewConfig, *, reason: str = "operator") -> str:
    """Enqueue a search rebuild unless one is queued or running; returns its job id."""
    key = lock_key(config)
    for _ in range(3):
        id_ = job_id(config, "search-rebuild")
        if redis.set(key, id_, nx=True, ex=QUEUED_TTL):
            Queue(REBUILD_QUEUE, connection=redis).enqueue(
                "workers.search_jobs.rebuild", config.to_dict(), reason, job_id=id_,
                job_timeout=24 * 3600, result_ttl=24 * 3600, failure_ttl=24 * 3600,
                description=f"rebuild the search index ({reason})",
                meta={"kind": "search-rebuild", "reason": reason, "processed": 0,
                      "head": None, "percent": 0.0},
            )
            return id_
        holder = text(redis.get(key))
        if holder is not None and will_run(redis, holder, REBUILD_QUEUE, running=True,
                                           handoff=HANDOFF_SECONDS):
            return holder
        if holder is not None:
            release_if(redis, key, holder)
    raise RuntimeError("could not take the search rebuild lock")


def ensure(redis: Redis, config: ViewConfig) -> str | None:
    """Start a search rebuild when the index has no live generation (after the views'
    first build, so a new deployment searches without waiting for a tick); its job id."""
    index = open_index(config)
    if index is None:
        return None
    try:
        if index.live() is None:
            return start_search_rebuild(redis, config, reason="no search index")
    except Exception as exc:  # the tick tries again
        log.warning("could not start the search rebuild: %s", exc)
    finally:
        index.close()
    return None


def rebuild(config: dict[str, Any], reason: str = "operator") -> dict[str, Any]:
    """RQ job: build a new generation of the index and switch to it."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("this function runs as an RQ job")
    redis: Redis = job.connection
    cfg = job_config(config)  # the worker's tuning, as for the views' jobs
    key, ttl = lock_key(cfg), cfg.lock_ttl * 3
    if not (redis.set(key, job.id, nx=True, ex=QUEUED_TTL) or renew_if(redis, key, job.id, ttl)):
        return {"skipped": "another search rebuild is running"}
    store = open_configured_store(cfg)
    index = open_index(cfg)
    last = 0.0
    processed = 0

    helper = LiveHelper(redis, store, cfg)  # a lone worker keeps the views current

    def progress(count: int, end: int) -> None:
        nonlocal last, processed
        processed += count
        if not renew_if(redis, key, job.id, ttl):
            raise RuntimeError("the search rebuild lock was lost")
        helper.maybe_help()
        if time.monotonic() - last >= 0.2:
            last = time.monotonic()
            head = max(store.head(), end)
            job.meta.update(processed=processed, head=head,
                            percent=round(100.0 * end / head, 1) if head else 100.0)
            job.save_meta()  # type: ignore[no-untyped-call]

    started = time.perf_counter()
    try:
        if index is None:
            return {"skipped": "search is switched off"}
        generation, reached = rebuild_search(index, store, store.scales, cfg.partitions,
                                             batch_size=cfg.rebuild_batch_size,
                                             on_batch=progress)
        job.meta.update(generation=generation, percent=100.0)
        job.save_meta()  # type: ignore[no-untyped-call]
        return {"generation": generation, "head": reached,
                "seconds": round(time.perf_counter() - started, 3)}
    finally:
        if index is not None:
            index.close()
        store.close()
        release_if(redis, key, job.id)


def tick(redis: Redis, config: ViewConfig, head: int) -> tuple[str | None, list[int]]:
    """The tick's part: (why a rebuild was started, partitions whose index lags).

    Drops old generations; starts a rebuild when there is no live generation, the
    partitions changed, or a generation being built has no rebuild running.
    """
    try:
        return _tick(redis, config, head)
    except Exception as exc:  # the views' tick goes on; the next one tries again
        log.warning("search tick failed: %s", exc)
        return None, []


def _tick(redis: Redis, config: ViewConfig, head: int) -> tuple[str | None, list[int]]:
    index = open_index(config)
    if index is None:
        return None, []
    try:
        drop_old(index)
        live, building = index.live(), index.building()
        reason = None
        if live is None:
            reason = "no search index"
        elif live.partitions != config.partitions:
            reason = "partitions changed"
        elif building is not None and not redis.exists(lock_key(config)):
            reason = "resume an interrupted search rebuild"
        if reason is not None:
            start_search_rebuild(redis, config, reason=reason)
            return reason, []
        assert live is not None
        cps = index.checkpoints(live.generation)
        return None, [p for p, cp in enumerate(cps) if (cp or 0) < head]
    finally:
        index.close()
