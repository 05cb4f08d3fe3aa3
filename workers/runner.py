"""Running the projections: the RQ worker with its scheduler and tick keeper, and status."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from .config import QUEUE, REBUILD_QUEUE, ViewConfig, connect
from .coordination import arm_tick, rescue_overdue
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
        while not self.stopped.is_set():
            try:
                arm_tick(redis, self.config)
                interval = max(self.config.tick_interval, 0.5)
                if rescue_overdue(redis, self.config, grace=max(3 * interval, 5.0)):
                    log.info("RQ's scheduler is not running here yet: moved overdue views jobs")
            except (RedisError, OSError) as exc:
                log.warning("cannot arm the views tick: %s", exc)
            self.stopped.wait(max(self.config.tick_interval, 0.5))

    def stop(self) -> None:
        """Stop at the next wake-up."""
        self.stopped.set()


class LedgerWorker(Worker):
    """An RQ worker that remembers whether it was asked to stop (SIGINT/SIGTERM)."""

    stop_asked = False

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
) -> bool:
    """Run an RQ worker on the projection queues with the scheduler and the tick keeper.

    RQ's worker quits when Redis stops answering; unless it was asked to stop, a new
    one starts as soon as Redis is back, so the views catch up without an operator.
    """
    redis = connect(redis_url)
    queues = [
        Queue(QUEUE, connection=redis),
        Queue(REBUILD_QUEUE, connection=redis),
        Queue(WITNESS_QUEUE, connection=redis),  # checkpoints to witnesses, with retries
    ]
    # imported here so the forked job processes start with the job code loaded
    from . import jobs

    jobs.use_worker_config(config)
    keeper = TickKeeper(redis_url, config)
    if not burst:
        keeper.start()
    worked = False
    try:
        while True:
            worker = LedgerWorker(queues, connection=redis, name=name)
            try:
                worked |= bool(worker.work(burst=burst, with_scheduler=True,
                                           logging_level=logging_level))
            except (RedisError, OSError) as exc:
                log.warning("the worker lost Redis: %s", exc)
            if burst or worker.stop_asked:
                return worked
            log.warning("the worker stopped on its own; starting again once Redis answers")
            if not _wait_for_redis(redis):
                return worked
    finally:
        keeper.stop()


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
    summary["queues"] = queue_depth(redis)
    summary["workers"] = Worker.count(connection=redis)
    summary["configured_partitions"] = config.partitions
    stats = redis.hgetall(config.keys.stats)
    summary["stats"] = {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes)
                                                           else str(v))
        for k, v in stats.items()
    }
    return summary
