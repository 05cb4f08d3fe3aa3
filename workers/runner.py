"""Running the projections: the RQ worker with its scheduler and tick keeper, and status."""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from .config import QUEUE, REBUILD_QUEUE, ViewConfig, connect, queue_of
from .coordination import arm_tick, rescue_overdue
from .refusals import Backoff, describe, probe, refusal
from .views import ViewReader
from .witnessing import WITNESS_QUEUE

log = logging.getLogger(__name__)


class TickKeeper(threading.Thread):
    """Arms the next tick through RQ's scheduler every interval, whatever happened.

    The tick job re-arms itself too; this thread (one per worker process) re-creates the
    schedule after Redis was flushed or a worker died in the middle of a tick, and moves
    overdue ticks and drops itself while RQ's scheduler is not running (after a crash).
    """

    def __init__(self, redis_url: str, config: ViewConfig) -> None:
        super().__init__(name="claimledger-tick-keeper", daemon=True)
        self.redis_url = redis_url
        self.config = config
        self.stopped = threading.Event()

    def run(self) -> None:
        """Arm a tick now and then once per interval until stopped."""
        redis = connect(self.redis_url)
        quiet = Backoff(cap=self.config.backoff_max)
        while not self.stopped.is_set():
            interval = max(self.config.tick_interval, 0.5)
            try:
                arm_tick(redis, self.config)
                if rescue_overdue(redis, self.config, grace=max(3 * interval, 5.0)):
                    log.info("RQ's scheduler is not running here yet: moved overdue views jobs")
                quiet.succeeded()
            except (RedisError, OSError) as exc:
                kind = refusal(exc)
                if kind is None:
                    log.warning("cannot arm the views tick: %s", exc)
                else:  # refused: said at most once a minute, and tried less often
                    delay, loud = quiet.failed(kind)
                    interval = max(interval, delay)
                    if loud:
                        log.error("cannot arm the views tick: %s", describe(kind, exc))
            self.stopped.wait(interval)

    def stop(self) -> None:
        """Stop at the next wake-up."""
        self.stopped.set()


class _RefusalNote(logging.Filter):
    """Notes the Redis error behind RQ's "unhandled exception, quitting" and mutes it.

    RQ's work loop catches every error, logs it with its traceback and returns; the
    runner says why itself (at most once a minute), so a refusal is not logged twice.
    """

    def __init__(self) -> None:
        super().__init__("rq.worker")
        self.error: BaseException | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, RedisError):
            self.error = error
            return refusal(error) is None
        return True


class LedgerWorker(Worker):
    """An RQ worker that remembers whether it was asked to stop (SIGINT/SIGTERM)."""

    stop_asked = False
    #: called once the worker registered with Redis (its first writes went through)
    on_started: Any = None

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Register as RQ does, then tell the runner Redis accepted the worker."""
        super().bootstrap(*args, **kwargs)
        if self.on_started is not None:
            self.on_started()

    def request_stop(self, signum: Any, frame: Any) -> None:
        """Note the request, then stop as RQ does (after the current job)."""
        self.stop_asked = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def run_worker(
    redis_url: str,
    config: ViewConfig,
    *,
    burst: bool = False,
    name: str | None = None,
    logging_level: str = "INFO",
    views_url: str | None = None,
) -> bool:
    """Run an RQ worker on the projection queues with the scheduler and the tick keeper.

    ``redis_url`` holds RQ's queues (and the views, unless ``views_url`` names another
    Redis, such as a ``redis+cluster://`` one). RQ's worker quits when Redis stops
    answering; unless it was asked to stop, a new one starts as soon as Redis is back,
    so the views catch up without an operator.
    """
    redis = connect(redis_url)
    queues = [
        Queue(QUEUE, connection=redis),
        Queue(REBUILD_QUEUE, connection=redis),
        Queue(WITNESS_QUEUE, connection=redis),  # checkpoints to witnesses, with retries
    ]
    # imported here so the forked job processes start with the job code loaded
    from . import jobs

    jobs.use_worker_config(config, views_url if views_url != redis_url else None)
    keeper = TickKeeper(redis_url, config)
    if not burst:
        keeper.start()
    note = _RefusalNote()
    logging.getLogger("rq.worker").addFilter(note)
    backoff = Backoff(cap=config.backoff_max)
    worked = False
    try:
        while True:
            worker = LedgerWorker(queues, connection=redis, name=name)
            worker.on_started = lambda: _accepted(backoff)
            note.error = None
            started = time.monotonic()
            try:
                worked |= bool(worker.work(burst=burst, with_scheduler=True,
                                           logging_level=logging_level))
            except (RedisError, OSError) as exc:
                note.error = exc
            if burst or worker.stop_asked:
                return worked
            kind = None if note.error is None else refusal(note.error)
            if kind is not None:
                if time.monotonic() - started > 2 * backoff.cap:
                    backoff.succeeded()  # it worked for a while: a new episode
                if not _back_off(backoff, kind, note.error):
                    return worked
                continue
            if note.error is not None:
                log.warning("the worker lost Redis: %s", note.error)
            log.warning("the worker stopped on its own; starting again once Redis answers")
            if not _wait_for_redis(redis):
                return worked
    finally:
        logging.getLogger("rq.worker").removeFilter(note)
        keeper.stop()


def _accepted(backoff: Backoff) -> None:
    """Say once that Redis accepts the worker again after refusing it."""
    if backoff.since is not None and not backoff.announced:
        backoff.announced = True
        log.warning("Redis accepts the worker's commands again, after %.0f s of refusals",
                    time.monotonic() - backoff.since)


def _back_off(backoff: Backoff, kind: str, error: BaseException | None) -> bool:
    """Wait before the next attempt while Redis refuses; False if asked to stop meanwhile.

    One line says why, on the first refusal and then at most once a minute (with how
    many attempts were refused so far); only a lost connection is retried at once.
    """
    delay, loud = backoff.failed(kind)
    if loud:
        log.error(
            "the worker cannot work: %s; %d attempt(s) refused, next in %.0f s, backing off"
            " up to %.0f s (this line repeats at most once a minute while Redis refuses)",
            describe(kind, error or RuntimeError(kind)), backoff.failures, delay, backoff.cap,
        )
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return not stopping.wait(delay)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_redis(redis: Redis) -> bool:
    """Wait until Redis answers PING; False if asked to stop meanwhile."""
    try:
        while True:
            try:
                if redis.ping():
                    return True
            except (RedisError, OSError):
                pass
            time.sleep(1.0)
    except StopRequested:
        return False


def queue_depth(redis: Redis) -> dict[str, int]:
    """Jobs waiting, scheduled and running on the projection queues."""
    depth: dict[str, int] = {}
    for name in (QUEUE, REBUILD_QUEUE, WITNESS_QUEUE):
        queue = Queue(name, connection=redis)
        depth[f"{name}:queued"] = queue.count
        depth[f"{name}:scheduled"] = ScheduledJobRegistry(queue=queue).count  # type: ignore[no-untyped-call]
        depth[f"{name}:started"] = StartedJobRegistry(queue=queue).count
    return depth


def status_summary(redis: Redis, config: ViewConfig, head: int) -> dict[str, Any]:
    """What ``claimledger status`` shows: the projections, queue depth and workers."""
    summary = ViewReader(redis, namespace=config.namespace).projections(head)
    summary["queues"] = queue_depth(queue_of(redis))
    summary["workers"] = Worker.count(connection=queue_of(redis))
    summary["configured_partitions"] = config.partitions
    refused = probe(redis, config.keys.probe)
    summary["redis_refusal"] = None if refused is None else {
        "kind": refused.kind, "reason": str(refused), "detail": refused.detail,
    }
    stats = redis.hgetall(config.keys.stats)
    summary["stats"] = {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes)
                                                           else str(v))
        for k, v in stats.items()
    }
    return summary
