"""Catch-up of one partition, zero-downtime rebuild, and dropping old generations.

A rebuild writes a new generation beside the live one (readers keep using the old
one through the pointer), drains it to the head, and switches the pointer only once
the new generation is at least as far along as the live one, so a reader never sees
the views go backwards. The old generation is deleted later, in chunks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import LockError
from rq import Queue

from ledger.store import EventStore

from .config import QUEUE, REBUILD_QUEUE, Keys, ViewConfig, mget, queue_of, text
from .coordination import (
    Live,
    job_state,
    parse_pointer,
    read_pointer,
    release_if,
    renew_if,
    request_catch_up,
    schedule_drop,
    swap_if,
    write_pointer,
)
from .job_context import LiveHelper
from .job_context import open_configured_store as open_configured_store  # its old home
from .projector import GenerationGone, Projector
from .search_jobs import step as search_step

log = logging.getLogger(__name__)

#: called with (events processed, head) after every rebuild batch
RebuildProgress = Callable[[int, int], None]

#: least seconds between the starts of two catch-up batches of one job: a trickle of
#: appends (each one a wake-up) is folded a few events at a time instead of one by one,
#: which costs a handful of Redis and SQL round trips per batch; big batches are not held
MIN_BATCH_GAP = 0.025
#: most seconds between two renewals of a catch-up job's partition lock (well inside its TTL)
RENEW_SECONDS = 1.0
#: most seconds a lingering job goes without looking for other jobs and a new generation
WATCH_SECONDS = 0.1


def catch_up(redis: Redis, store: EventStore, config: ViewConfig, partition: int, id_: str) -> int:
    """Drain one partition of the live generation to the head; returns its checkpoint.

    Once at the head the job lingers up to ``config.linger`` seconds, woken by each
    trigger (a push on the partition's wake list), so a steady stream of appends is
    served by one hot job instead of a job each; it leaves at once when other jobs are
    queued or the live generation changes. Batches start at least ``MIN_BATCH_GAP``
    apart.
    """
    keys = config.keys
    live = read_pointer(redis, keys)
    if live is None or partition >= live.partitions:
        release_if(redis, keys.pending(partition), id_)
        if live is None:
            request_catch_up(redis, config)  # starts a rebuild
        return 0
    pk = keys.part(live.generation, partition)
    lock = redis.lock(pk.lock, timeout=config.lock_ttl, sleep=0.01,
                      blocking_timeout=config.lock_ttl + 1)
    if not lock.acquire():
        return -1
    projector = Projector(redis, store, config, store.scales)
    renew = _Throttled(lock.reacquire, min(RENEW_SECONDS, config.lock_ttl / 10))
    watch = _Watch(redis, config, partition, live.generation)
    started = time.monotonic()
    try:
        idle_until = started + config.linger
        batch_started = 0.0
        while True:
            pause = MIN_BATCH_GAP - (time.monotonic() - batch_started)
            if pause > 0:
                time.sleep(pause)  # pacing: the appends of the pause join this batch
            batch_started = time.monotonic()
            head = store.head()
            behind = head - (projector.checkpoint(live.generation, partition) or 0)
            bulk = behind > 10 * config.batch_size  # an import: bigger batches, as a rebuild
            # up to this head only: appends made meanwhile wait for the next, paced batch
            cp = projector.run(live.generation, live.partitions, [partition],
                               batch_size=min(config.rebuild_batch_size,
                                              4 * config.batch_size) if bulk else None,
                               until=head, on_batch=lambda _n, _end: renew())
            renew()
            search_step(config, store, partition, cp)  # the search index follows the views
            renew()
            if cp < store.head():
                continue
            until = min(idle_until, started + config.linger_max)
            if watch.linger(until):
                idle_until = time.monotonic() + config.linger
                continue
            redis.delete(keys.pending(partition))
            if cp >= store.head():
                return cp
            if not redis.set(keys.pending(partition), id_, nx=True, ex=600):
                return cp  # a newer job holds the trigger and will drain
    except (GenerationGone, LockError) as exc:
        # a rebuild switched generations (or another job took over): hand the trigger on
        log.info("catch-up of partition %s stopped: %s", partition, exc)
        release_if(redis, keys.pending(partition), id_)
        if isinstance(exc, GenerationGone):
            request_catch_up(redis, config, [partition])
        return -1
    finally:
        projector.close()
        with contextlib.suppress(LockError):
            lock.release()


class _Throttled:
    """Calls ``action`` at most once per ``interval`` seconds (the first call always)."""

    def __init__(self, action: Callable[[], object], interval: float) -> None:
        self.action, self.interval = action, interval
        self.last = -float("inf")

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.action()
            self.last = now


class _Watch:
    """What a lingering catch-up job waits on: triggers, other jobs, the live generation."""

    def __init__(self, redis: Redis, config: ViewConfig, partition: int, generation: int) -> None:
        self.redis, self.config = redis, config
        self.partition, self.generation = partition, generation
        self.queue = queue_of(redis)
        self.catch_up_queue = Queue(QUEUE, connection=self.queue).key
        self.rebuild_queue = Queue(REBUILD_QUEUE, connection=self.queue).key
        self.checked = -float("inf")

    def linger(self, until: float) -> bool:
        """Wait for a trigger until ``until``; False when it is time to leave instead.

        Leaves when another job waits for this worker (ticks excepted: a job draining its
        partition is the progress they check for) or when the live generation changed;
        under steady triggers that is looked at every ``WATCH_SECONDS``, not every wake.
        """
        keys = self.config.keys
        while time.monotonic() < until:
            if time.monotonic() - self.checked >= WATCH_SECONDS:
                self.checked = time.monotonic()
                pointer = self.redis.get(keys.pointer)  # the views' Redis
                pipe = self.queue.pipeline(transaction=False)  # the queues' Redis
                pipe.lrange(self.catch_up_queue, 0, 20)
                pipe.llen(self.rebuild_queue)
                queued, rebuilds = pipe.execute()
                live = parse_pointer(pointer)
                if live is None or live.generation != self.generation:
                    raise GenerationGone("the live generation changed")
                if rebuilds or any("-tick-" not in (text(job) or "") for job in queued):
                    return False
            timeout = max(0.01, min(WATCH_SECONDS, until - time.monotonic()))
            if self.redis.blpop([keys.wake(self.partition)], timeout=timeout):
                return True
        return False


@dataclass
class RebuildResult:
    """What a rebuild did."""

    generation: int
    previous: int | None
    head: int
    seconds: float


def rebuild(
    redis: Redis,
    store: EventStore,
    config: ViewConfig,
    id_: str,
    *,
    on_progress: RebuildProgress | None = None,
) -> RebuildResult | None:
    """Build a new generation and switch to it; None if another rebuild owns the lock."""
    keys = config.keys
    started = time.perf_counter()
    lock_ttl = rebuild_lock_ttl(config)
    if not _take_rebuild_lock(redis, keys, id_, lock_ttl):
        return None
    stack = contextlib.ExitStack()
    try:
        live = read_pointer(redis, keys)
        generation = _resume_abandoned(redis, config, live) or _new_generation(redis, config, live)
        parts = list(range(config.partitions))
        projector = stack.enter_context(Projector(redis, store, config, store.scales))
        helper = LiveHelper(redis, store, config)
        processed = min(projector.checkpoint(generation, p) or 0 for p in parts)
        head = store.head()

        def batch_done(count: int, end: int) -> None:
            nonlocal processed, head
            processed += count
            head = max(head, end)
            if not renew_if(redis, keys.rebuild_lock, id_, lock_ttl):
                raise GenerationGone("the rebuild lock was lost")
            helper.maybe_help()
            if on_progress is not None:
                on_progress(processed, head)

        while True:
            head = store.head()
            reached = projector.run(generation, config.partitions, parts,
                                    batch_size=config.rebuild_batch_size, on_batch=batch_done)
            if reached >= head and _ahead_of_live(redis, store, config, live, reached):
                break
        write_pointer(redis, keys, generation, config.partitions)
        redis.delete(keys.building)
        if on_progress is not None:
            on_progress(processed, max(head, reached))
        if live is not None:
            schedule_drop(redis, config, live.generation, live.partitions)
        log.info("views generation %s is live (%s events)", generation, reached)
    finally:
        stack.close()
        release_if(redis, keys.rebuild_lock, id_)
    request_catch_up(redis, config)
    return RebuildResult(generation, live.generation if live else None, reached,
                         time.perf_counter() - started)


def _take_rebuild_lock(redis: Redis, keys: Keys, id_: str, ttl: float) -> bool:
    """Hold the rebuild lock for this job, unless another rebuild job is running.

    ``start_rebuild`` gives the lock to a new job when the holder looks lost (RQ calls it
    queued, but it is on no queue list), which is also how a job looks for a moment while
    a worker takes it off the queue; so the job that runs takes the lock back from a
    holder that is not running, or steady appends could keep passing it on forever.
    """
    if redis.set(keys.rebuild_lock, id_, nx=True, ex=600) or renew_if(
        redis, keys.rebuild_lock, id_, ttl
    ):
        return True
    holder = text(redis.get(keys.rebuild_lock))
    if holder is None:
        return bool(redis.set(keys.rebuild_lock, id_, nx=True, px=int(ttl * 1000)))
    return job_state(redis, holder) != "started" and swap_if(
        redis, keys.rebuild_lock, holder, id_, ttl
    )


def rebuild_lock_ttl(config: ViewConfig) -> float:
    """Seconds a running rebuild's lock outlives its last renewal (its job's death)."""
    return config.lock_ttl * 3


def _new_generation(redis: Redis, config: ViewConfig, live: Live | None) -> int:
    keys = config.keys
    generation = int(redis.incr(keys.generation_seq))
    if generation == 1:  # a new counter: never built, or lost (a cluster node restarted empty)
        left = _generations_left(redis, keys)
        for old, partitions in left.items():  # orphans: never live again, never reused
            if live is None or old != live.generation:
                drop_generation(redis, config, old, partitions)
        if left and max(left) >= generation:
            generation = max(left) + 1
            redis.set(keys.generation_seq, generation)
    if live is not None and generation <= live.generation:
        redis.set(keys.generation_seq, live.generation + 1)
        generation = live.generation + 1
    with redis.pipeline(transaction=False) as pipe:
        for p in range(config.partitions):
            pipe.set(keys.part(generation, p).checkpoint, 0)
        pipe.set(keys.building, json.dumps(
            {"generation": generation, "partitions": config.partitions}
        ))
        pipe.execute()
    return generation


def _generations_left(redis: Redis, keys: Keys) -> dict[int, int]:
    """Generations that still have checkpoint keys, with their partition counts (at least)."""
    found: dict[int, int] = {}
    pattern = re.compile(re.escape(keys.ns) + r":g(\d+):\{p(\d+)\}:cp$")
    for key in redis.scan_iter(match=keys.generation_prefix(0)[:-2] + "*:cp", count=1000):
        match = pattern.match(text(key) or "")
        if match:
            generation, partition = int(match[1]), int(match[2])
            found[generation] = max(found.get(generation, 0), partition + 1)
    return found


def _ahead_of_live(
    redis: Redis, store: EventStore, config: ViewConfig, live: Live | None, reached: int
) -> bool:
    """Whether the new generation is at least where every live partition is, leaving out
    a live partition beyond the log's head: views of another log (an older backup
    restored), which a rebuild must replace though they go back, or they never would."""
    if live is None:
        return True
    keys = config.keys
    cps = mget(redis, [keys.part(live.generation, p).checkpoint for p in range(live.partitions)])
    head = store.head()  # read after the checkpoints: our own log never shrinks under them
    for raw in cps:
        cp = None if raw is None else int(text(raw) or 0)
        if cp is not None and reached < cp <= head:
            return False
    return True


def _resume_abandoned(redis: Redis, config: ViewConfig, live: Live | None) -> int | None:
    """A half-built generation left by a dead rebuild: resume it if it fits, else drop it."""
    keys = config.keys
    raw = text(redis.get(keys.building))
    if raw is None:
        return None
    building = json.loads(raw)
    generation, partitions = int(building["generation"]), int(building["partitions"])
    if live is not None and live.generation == generation:
        redis.delete(keys.building)
        return None
    cps = mget(redis, [keys.part(generation, p).checkpoint for p in range(partitions)])
    if partitions == config.partitions and all(cp is not None for cp in cps):
        log.info("resuming the rebuild of generation %s", generation)
        return generation
    drop_generation(redis, config, generation, partitions)
    redis.delete(keys.building)
    return None


def drop_generation(
    redis: Redis, config: ViewConfig, generation: int, partitions: int, chunk: int = 1000
) -> int:
    """Delete every key of a generation (never the live one); returns how many."""
    keys = config.keys
    live = read_pointer(redis, keys)
    if live is not None and live.generation == generation:
        return 0
    # checkpoints first: a job still writing to this generation then fails its EXEC
    with redis.pipeline(transaction=False) as pipe:
        for p in range(partitions):
            pipe.delete(keys.part(generation, p).checkpoint)
        pipe.execute()
    deleted = 0
    batch: list[bytes | str] = []
    for key in redis.scan_iter(match=keys.generation_prefix(generation) + "*", count=chunk):
        batch.append(key)
        if len(batch) >= chunk:
            deleted += int(redis.unlink(*batch))
            batch = []
    if batch:
        deleted += int(redis.unlink(*batch))
    return deleted
