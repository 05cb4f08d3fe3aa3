"""Who runs which job: coalesced catch-up triggers, the rebuild lock and the tick.

Coalescing: a per-partition ``pending`` key (value: a job id) is set with SET NX by
whoever wants that partition caught up; only the caller that sets it enqueues a job.
The job keeps the key while it drains, deletes it, re-reads the head and, if the log
moved meanwhile, takes the key back and drains again; so a burst of appends during a
job costs no new job, and an append after the job's last look always finds the key
free and enqueues one. The tick repairs keys whose job died.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from redis import Redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from .config import QUEUE, REBUILD_QUEUE, Keys, ViewConfig, queue_of, text

log = logging.getLogger(__name__)

#: how long a trigger key or rebuild lock lasts while its job waits in the queue
QUEUED_TTL = 600
#: seconds request_catch_up leaves Redis alone after a failure
BACKOFF = 1.0
_DOWN: WeakKeyDictionary[Any, float] = WeakKeyDictionary()
#: job states in which a job will run later
WAITING = frozenset({"queued", "scheduled", "deferred", "created"})
#: seconds a rebuild popped from its queue may take to be marked started (the worker
#: forks a work-horse first, slower on a loaded host) before a second request stops
#: coalescing with it; catch-ups need no grace (a duplicate one is harmless)
HANDOFF_SECONDS = 10.0


@dataclass(frozen=True)
class Live:
    """The live generation as named by the pointer key."""

    generation: int
    partitions: int
    switched_at: str | None = None


def read_pointer(redis: Redis, keys: Keys) -> Live | None:
    """The live generation, or None when there are no views (never built, or flushed)."""
    return parse_pointer(redis.get(keys.pointer))


def parse_pointer(raw: bytes | str | None) -> Live | None:
    """The pointer key's value as a ``Live``."""
    value = text(raw)
    if value is None:
        return None
    data = json.loads(value)
    return Live(int(data["generation"]), int(data["partitions"]), data.get("switched_at"))


def write_pointer(redis: Redis, keys: Keys, generation: int, partitions: int) -> None:
    """Switch the live generation (one SET: atomic for every reader)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    redis.set(
        keys.pointer,
        json.dumps({"generation": generation, "partitions": partitions, "switched_at": now}),
    )


def job_prefix(config: ViewConfig) -> str:
    """How the ids of our RQ jobs start (the namespace, made a valid job id)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", config.namespace) + "-"


def job_id(config: ViewConfig, kind: str) -> str:
    """A fresh RQ job id for one of our jobs."""
    return f"{job_prefix(config)}{kind}-{uuid.uuid4().hex[:16]}"


def job_state(redis: Redis, job_id_: str | None) -> str | None:
    """An RQ job's status, or None if there is no such job."""
    if not job_id_:
        return None
    try:
        return str(Job.fetch(job_id_, connection=queue_of(redis)).get_status(refresh=False).value)
    except (NoSuchJobError, ValueError):
        return None


def will_run(
    redis: Redis, job_id_: str | None, queue: str, *, running: bool, handoff: float = 0.0
) -> bool:
    """Whether a job is really waiting in ``queue`` (or, if ``running``, executing).

    A job RQ calls "queued" can be lost (popped by a worker that then stopped), so it
    counts only while it is on the queue's list, or, given a ``handoff`` of N seconds,
    if it was enqueued less than N seconds ago (a worker popped it and is forking to run
    it); "started" counts only when the caller knows no lock says otherwise.
    """
    state = job_state(redis, job_id_)
    if state == "queued":
        if Queue(queue, connection=queue_of(redis)).get_job_position(job_id_ or "") is not None:
            return True
        return handoff > 0 and _enqueued_within(redis, job_id_ or "", handoff)
    if state == "started":
        return running
    return state in WAITING


def _enqueued_within(redis: Redis, job_id_: str, seconds: float) -> bool:
    try:
        enqueued = Job.fetch(job_id_, connection=queue_of(redis)).enqueued_at
    except (NoSuchJobError, ValueError):
        return False
    if enqueued is None:
        return False
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)
    return datetime.now(UTC) - enqueued < timedelta(seconds=seconds)


def count(redis: Redis, keys: Keys, name: str, amount: int = 1) -> None:
    """Bump a counter in the stats hash (jobs enqueued, batches, events)."""
    redis.hincrby(keys.stats, name, amount)


#: a day, in seconds: how long a long job may run and how long failures are kept
_DAY = 24 * 3600


def _enqueue(
    redis: Redis,
    config: ViewConfig,
    queue: str,
    job: str,
    *args: Any,
    id_: str,
    timeout: int,
    result_ttl: int,
    description: str,
    failure_ttl: int = _DAY,
    at: datetime | None = None,
    **options: Any,
) -> None:
    """Put the job ``workers.jobs.<job>(config, *args)`` on ``queue`` with the RQ id
    ``id_``, or schedule it for ``at`` (RQ's scheduler); ``options`` go to RQ as they are."""
    target = Queue(queue, connection=queue_of(redis))
    call = (f"workers.jobs.{job}", config.to_dict(), *args)
    settings = {"job_id": id_, "job_timeout": timeout, "result_ttl": result_ttl,
                "failure_ttl": failure_ttl, "description": description, **options}
    if at is None:
        target.enqueue(*call, **settings)
    else:
        target.enqueue_at(at, *call, **settings)


def enqueue_catch_up(redis: Redis, config: ViewConfig, partition: int, id_: str) -> None:
    """Put one catch-up job for a partition on the queue."""
    _enqueue(redis, config, QUEUE, "catch_up", partition, id_=id_, timeout=3600,
             result_ttl=60, description=f"catch up partition {partition}")
    count(redis, config.keys, "catch_up_jobs")


def request_catch_up(
    redis: Redis, config: ViewConfig, partitions: Iterable[int] | None = None
) -> int:
    """Ask for the views to catch up (after an append commits); never raises.

    Costs one Redis round trip (plus an enqueue when no job is pending); returns the
    number of jobs enqueued. After a failure it skips Redis for ``BACKOFF`` seconds, so
    appends do not each pay a connection timeout while Redis is down; the tick catches
    the views up when it is back.
    """
    pool = getattr(redis, "connection_pool", redis)  # a cluster client has none
    if time.monotonic() < _DOWN.get(pool, 0.0):
        return 0
    try:
        keys = config.keys
        guess = list(range(config.partitions) if partitions is None else partitions)
        ids = {p: job_id(config, f"catchup-p{p}") for p in guess}
        # one round trip in the usual case: the pointer and every trigger together
        pipe = redis.pipeline(transaction=False)
        pipe.get(keys.pointer)
        for p in guess:
            pipe.set(keys.pending(p), ids[p], nx=True, ex=QUEUED_TTL)
        for p in guess:  # wakes a job lingering at the head, if there is one
            pipe.lpush(keys.wake(p), 1)
            pipe.ltrim(keys.wake(p), 0, 0)
        raw, *replies = pipe.execute()
        taken = replies[: len(guess)]
        won = [p for p, ok in zip(guess, taken, strict=True) if ok]
        live = parse_pointer(raw)
        if live is None:
            for p in won:
                release_if(redis, keys.pending(p), ids[p])
            start_rebuild(redis, config, reason="no views")
            return 1
        for p in won:
            if p >= live.partitions:  # configured for more partitions than the views have
                release_if(redis, keys.pending(p), ids[p])
        won = [p for p in won if p < live.partitions]
        if partitions is None:
            for p in range(len(guess), live.partitions):  # the views have more partitions
                ids[p] = job_id(config, f"catchup-p{p}")
                if redis.set(keys.pending(p), ids[p], nx=True, ex=QUEUED_TTL):
                    won.append(p)
        for p in won:
            enqueue_catch_up(redis, config, p, ids[p])
        return len(won)
    except Exception as exc:  # the caller has already committed; views catch up on the tick
        _DOWN[pool] = time.monotonic() + BACKOFF
        log.warning("could not request a views catch-up: %s", exc)
        return 0


def repair_trigger(redis: Redis, config: ViewConfig, partition: int) -> bool:
    """Enqueue a catch-up unless a job still waiting in the queue holds the trigger.

    Call it only while nobody holds the partition's lock: a job that RQ says has
    started but holds no lock has died (a killed worker) or is about to exit.
    """
    keys = config.keys
    holder = text(redis.get(keys.pending(partition)))
    if holder is not None and will_run(redis, holder, QUEUE, running=False):
        return False
    id_ = job_id(config, f"catchup-p{partition}")
    redis.set(keys.pending(partition), id_, ex=QUEUED_TTL)
    enqueue_catch_up(redis, config, partition, id_)
    return True


def start_rebuild(redis: Redis, config: ViewConfig, *, reason: str = "operator") -> str:
    """Enqueue a rebuild unless one is queued or running; returns its RQ job id."""
    keys = config.keys
    for _ in range(3):
        id_ = job_id(config, "rebuild")
        if redis.set(keys.rebuild_lock, id_, nx=True, ex=QUEUED_TTL):
            _enqueue(
                redis, config, REBUILD_QUEUE, "rebuild", reason, id_=id_, timeout=_DAY,
                result_ttl=_DAY, description=f"rebuild the views ({reason})",
                meta={"kind": "rebuild", "reason": reason, "processed": 0, "head": None,
                      "percent": 0.0},
            )
            count(redis, keys, "rebuild_jobs")
            return id_
        holder = text(redis.get(keys.rebuild_lock))
        # a running rebuild renews its lock; a dead one's lock expires within seconds
        if holder is not None and will_run(
            redis, holder, REBUILD_QUEUE, running=True, handoff=HANDOFF_SECONDS
        ):
            return holder
        if holder is not None:  # its job died or vanished: release its lock
            release_if(redis, keys.rebuild_lock, holder)
    raise RuntimeError("could not take the rebuild lock")


def rebuild_successor(redis: Redis, keys: Keys, id_: str, generation_before: int | None
                      ) -> tuple[str | None, bool]:
    """For a rebuild job RQ still calls started: (the job that took over, whether it is done).

    A rebuild whose worker died keeps RQ's "started" status for minutes; the tick resumes
    it as a new job, which holds the rebuild lock. Once no rebuild holds the lock, nothing
    is half built and the live generation moved past ``generation_before``, it is done.
    """
    holder = text(redis.get(keys.rebuild_lock))
    if holder is not None:
        # start_rebuild takes the lock a moment before its job exists
        taken_over = holder != id_ and job_state(redis, holder) is not None
        return (holder if taken_over else None), False
    if redis.exists(keys.building):
        return None, False
    live = read_pointer(redis, keys)
    done = live is not None and (generation_before is None or live.generation > generation_before)
    return None, done


_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


_SWAP = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return false"
)


def swap_if(redis: Redis, key: str, old: str, new: str, ttl: float) -> bool:
    """Set a key to ``new`` (with a TTL) only if it still holds ``old``."""
    return bool(redis.eval(_SWAP, 1, key, old, new, int(ttl * 1000)))


def release_if(redis: Redis, key: str, value: str) -> bool:
    """Delete a key only if it still holds ``value``."""
    return bool(redis.eval(_RELEASE, 1, key, value))


def renew_if(redis: Redis, key: str, value: str, ttl: float) -> bool:
    """Extend a key's TTL only if it still holds ``value``."""
    return bool(redis.eval(_RENEW, 1, key, value, int(ttl * 1000)))


def tick_waiting(redis: Redis, config: ViewConfig) -> bool:
    """Whether one of our ticks waits in the catch-up queue (due, not started yet)."""
    prefix = config.keys.tick_job_id(0).removesuffix("0")
    redis = queue_of(redis)
    waiting = redis.lrange(Queue(QUEUE, connection=redis).key, 0, -1)
    return any((text(id_) or "").startswith(prefix) for id_ in waiting)


def arm_tick(redis: Redis, config: ViewConfig, *, now: float | None = None) -> bool:
    """Schedule (via RQ's scheduler) the tick of the next time slot, once per slot, unless
    a tick already waits in the queue: while the worker is busy (a rebuild, a lingering
    catch-up) ticks would pile up one per slot, and the catch-up jobs queued behind them
    would wait for every one of them to run once the worker is free."""
    if tick_waiting(redis, config):
        return False
    interval = max(config.tick_interval, 0.5)
    slot = int((now if now is not None else time.time()) // interval) + 1
    when = datetime.fromtimestamp(slot * interval, UTC)
    try:
        _enqueue(
            redis, config, QUEUE, "tick", id_=config.keys.tick_job_id(slot), timeout=600,
            result_ttl=max(int(interval * 4), 10), failure_ttl=3600,
            description="views tick", at=when, unique=True,
        )
    except DuplicateJobError:
        return False
    return True


def rescue_overdue(redis: Redis, config: ViewConfig, grace: float) -> int:
    """Enqueue our scheduled jobs overdue by more than ``grace`` seconds; returns how many.

    RQ's scheduler runs in one worker at a time, under a lock that outlives a killed
    worker by a minute, and a new worker retries taking it only every ten minutes; so
    each worker's tick keeper moves our overdue ticks and drops itself. Whoever removes
    a job from the schedule first enqueues it.
    """
    prefix = job_prefix(config)
    tick = config.keys.tick_job_id(0).removesuffix("0")
    ticking = tick_waiting(redis, config)
    redis = queue_of(redis)
    moved = 0
    for name in (QUEUE, REBUILD_QUEUE):
        queue = Queue(name, connection=redis)
        registry = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
        due = redis.zrangebyscore(registry.key, 0, time.time() - grace)
        for raw in due:
            id_ = raw.decode() if isinstance(raw, bytes) else str(raw)
            if not id_.startswith(prefix) or not redis.zrem(registry.key, id_):
                continue
            try:
                job = Job.fetch(id_, connection=redis)
            except NoSuchJobError:
                continue
            if id_.startswith(tick) and ticking:  # one waiting tick does what they all would
                job.delete()
                continue
            queue.enqueue_job(job)
            ticking |= id_.startswith(tick)
            moved += 1
    return moved


def schedule_drop(redis: Redis, config: ViewConfig, generation: int, partitions: int) -> str:
    """Delete a generation's keys after ``drop_delay`` seconds (readers finish first)."""
    id_ = job_id(config, f"drop-g{generation}")
    _enqueue(
        redis, config, REBUILD_QUEUE, "drop_generation", generation, partitions, id_=id_,
        timeout=3600, result_ttl=3600, description=f"drop views generation {generation}",
        at=datetime.now(UTC) + timedelta(seconds=config.drop_delay),
    )
    return id_


def job_info(redis: Redis, id_: str) -> dict[str, Any] | None:
    """An RQ job as JSON for ``GET /v1/jobs/{id}``: status, progress, times, error."""
    try:
        job = Job.fetch(id_, connection=queue_of(redis))
    except (NoSuchJobError, ValueError):
        return None
    meta = dict(job.get_meta(refresh=False) or {})
    error = None
    if job.get_status(refresh=False).value == "failed":
        result = job.latest_result()
        error = (result.exc_string or "").strip().splitlines()[-1:] if result else None
    return {
        "id": job.id,
        "kind": meta.pop("kind", (job.func_name or "").rsplit(".", 1)[-1]),
        "status": job.get_status(refresh=False).value,
        "progress": {k: meta.get(k) for k in ("processed", "head", "percent")},
        "meta": meta,
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
        "error": error[0] if error else None,
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
