"""Triggers, locks and the tick's repairs against a real redis-server (no worker runs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from tests.support.redis_server import RedisServer
from workers.config import QUEUE, REBUILD_QUEUE, ViewConfig
from workers.coordination import (
    arm_tick,
    repair_trigger,
    request_catch_up,
    rescue_overdue,
    start_rebuild,
    write_pointer,
)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    with RedisServer(tmp_path / "redis") as server:
        yield server.client()


@pytest.fixture
def config(tmp_path: Path) -> ViewConfig:
    return ViewConfig(database_url=f"sqlite:///{tmp_path / 'l.db'}", partitions=2)


def queued(redis: Redis, name: str = QUEUE) -> list[str]:
    return Queue(name, connection=redis).get_job_ids()


def test_a_burst_of_triggers_enqueues_one_job_per_partition(
    redis: Redis, config: ViewConfig
) -> None:
    write_pointer(redis, config.keys, 1, 2)
    assert sum(request_catch_up(redis, config) for _ in range(500)) == 2
    assert len(queued(redis)) == 2
    assert int(redis.hget(config.keys.stats, "catch_up_jobs") or 0) == 2


def test_triggers_without_views_ask_for_one_rebuild(redis: Redis, config: ViewConfig) -> None:
    for _ in range(20):
        request_catch_up(redis, config)
    assert len(queued(redis, REBUILD_QUEUE)) == 1
    assert queued(redis) == []


def test_a_rebuild_asked_for_twice_is_one_job(redis: Redis, config: ViewConfig) -> None:
    first = start_rebuild(redis, config, reason="a")
    assert start_rebuild(redis, config, reason="b") == first
    assert queued(redis, REBUILD_QUEUE) == [first]


def test_a_trigger_whose_job_was_lost_is_repaired(redis: Redis, config: ViewConfig) -> None:
    write_pointer(redis, config.keys, 1, 2)
    request_catch_up(redis, config, [0])
    assert repair_trigger(redis, config, 0) is False  # its job is waiting on the queue
    lost = queued(redis)[0]
    Queue(QUEUE, connection=redis).remove(lost)  # as if a worker popped it and died
    assert repair_trigger(redis, config, 0) is True
    assert len(queued(redis)) == 1
    assert queued(redis)[0] != lost


def test_each_time_slot_arms_one_tick(redis: Redis, config: ViewConfig) -> None:
    now = time.time()
    assert arm_tick(redis, config, now=now) is True
    assert arm_tick(redis, config, now=now) is False
    registry = ScheduledJobRegistry(queue=Queue(QUEUE, connection=redis))
    assert len(registry.get_job_ids()) == 1


def test_overdue_ticks_are_moved_when_no_scheduler_runs(redis: Redis, config: ViewConfig) -> None:
    arm_tick(redis, config, now=time.time() - 60)  # a slot a minute ago, never enqueued
    assert rescue_overdue(redis, config, grace=5) == 1
    assert len(queued(redis)) == 1
    assert rescue_overdue(redis, config, grace=5) == 0


def test_no_tick_is_armed_while_one_waits_in_the_queue(redis: Redis, config: ViewConfig) -> None:
    # a busy worker (a rebuild, a lingering catch-up) takes no job: one tick per slot
    # would pile up, and a catch-up queued behind them would wait for each to run
    now = time.time()
    assert arm_tick(redis, config, now=now - 30) is True
    assert rescue_overdue(redis, config, grace=5) == 1  # as the scheduler would: it is due
    for slot in range(1, 20):
        assert arm_tick(redis, config, now=now - 30 + slot) is False
    assert len(queued(redis)) == 1
    Queue(QUEUE, connection=redis).remove(queued(redis)[0])  # a worker took it
    assert arm_tick(redis, config, now=now) is True


def test_overdue_ticks_behind_a_waiting_tick_are_dropped(redis: Redis, config: ViewConfig) -> None:
    now = time.time()
    for slot in range(10):  # no scheduler ran for ten slots
        arm_tick(redis, config, now=now - 60 + slot)
    assert rescue_overdue(redis, config, grace=5) == 1
    assert len(queued(redis)) == 1
    registry = ScheduledJobRegistry(queue=Queue(QUEUE, connection=redis))
    assert registry.get_job_ids() == []
