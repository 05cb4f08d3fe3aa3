"""Real redis-server, real ``claimledger worker`` processes: the views end up equal to the log."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry

from ledger.envelope import NewEvent
from ledger.store import open_store
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.workers import (  # noqa: F401 (fixtures)
    SEED_CLAIMS,
    Deployment,
    deployment_fixture,
    redis_server_fixture,
    seeded_log_fixture,
)
from workers.config import QUEUE, ViewConfig
from workers.coordination import read_pointer, request_catch_up
from workers.synthetic import fill_store
from workers.views import ViewReader


def _checkpoint(deployment: Deployment) -> int:
    try:
        return ViewReader(deployment.redis()).checkpoint()
    except Exception:
        return -1


def test_a_worker_builds_views_equal_to_a_fold_of_a_30000_event_import(
    deployment: Deployment,
) -> None:
    head = deployment.store().head()
    assert head >= 30_000
    started = time.monotonic()
    deployment.start_worker()
    snapshot = deployment.wait_for_views(timeout=60)
    assert len(snapshot.claims) == SEED_CLAIMS
    print(f"\nviews of {head} events built in {time.monotonic() - started:.1f}s"
          " (worker start included)")


def test_views_survive_a_worker_killed_with_sigkill_three_times_during_catch_up(
    deployment: Deployment,
) -> None:
    # views of an empty log first, then a 30,000-event import to catch up on
    deployment.db_path.unlink()
    open_store(deployment.database_url).init()
    deployment.start_worker()
    wait_until(lambda: _checkpoint(deployment) == 0, 30, "empty views")
    deployment.workers[-1].stop()
    store = deployment.store()
    head = fill_store(store, SEED_CLAIMS, seed=11)
    deployment.env_overrides["LEDGER_VIEWS_BATCH"] = "250"
    kills: list[int] = []
    for round_ in range(10):
        if len(kills) == 3:
            break
        before = max(_checkpoint(deployment), 0)
        if before >= head:  # the last round finished before the kill: more work
            head = fill_store(store, 1000, seed=100 + round_)
        worker = deployment.start_worker()
        target = before + (head - before) // 3  # a third of the way through what is left
        wait_until(lambda target=target: _checkpoint(deployment) >= target, 60, "progress",
                   every=0.005)
        worker.kill()
        killed_at = _checkpoint(deployment)
        if killed_at < head:
            kills.append(killed_at)
    assert len(kills) == 3
    deployment.start_worker()
    deployment.wait_for_views(timeout=90)
    print(f"\nkilled at checkpoints {kills} of {head}; views equal the log afterwards")


def test_views_come_back_after_flushall_with_no_operator_action(
    deployment: Deployment,
) -> None:
    deployment.start_worker()
    deployment.wait_for_views(timeout=60)
    client = deployment.redis()
    client.flushall()
    assert read_pointer(client, deployment.config.keys) is None
    started = time.monotonic()
    deployment.wait_for_views(timeout=60)
    print(f"\nviews rebuilt {time.monotonic() - started:.1f}s after FLUSHALL")


def test_a_worker_outlives_a_redis_outage_and_rebuilds_the_views_of_an_empty_redis(
    deployment: Deployment,
) -> None:
    worker = deployment.start_worker()
    deployment.wait_for_views(timeout=60)
    deployment.server.stop()
    client = deployment.redis()
    wait_until(lambda: "cannot arm the views tick" in deployment.worker_logs(), 30,
               "the worker to notice")
    store = deployment.store()
    fill_store(store, 100, seed=21)  # appends never depend on Redis
    deployment.server.restart_empty()
    assert client.get(deployment.config.keys.pointer) is None
    deployment.wait_for_views(timeout=60)
    assert worker.process is not None
    assert worker.process.poll() is None


def test_four_partitions_on_two_workers_give_views_equal_to_the_log(
    deployment: Deployment,
) -> None:
    deployment.partitions = 4
    deployment.start_worker()
    deployment.start_worker()
    deployment.wait_for_views(timeout=60)
    client = deployment.redis()
    config = deployment.config
    store = deployment.store()
    claims = sorted(deployment.expected().claims)
    rng = random.Random(3)
    for wave in range(3):
        notes = [NewEvent(rng.choice(claims), "NoteAdded", {"text": f"wave {wave} note {i}"})
                 for i in range(400)]
        store.append(notes, actor="desk@example.org")
        request_catch_up(client, config)
        wait_until(lambda: _checkpoint(deployment) == store.head(), 30, f"wave {wave}")
    deployment.wait_for_views(timeout=60)
    live = read_pointer(client, config.keys)
    assert live is not None
    assert live.partitions == 4
    workers = {w.name for w in Worker.all(connection=client)}
    finished = FinishedJobRegistry(QUEUE, connection=client).get_job_ids()
    catch_ups = [j for j in Job.fetch_many(finished, connection=client)
                 if j is not None and "-catchup-" in j.id]
    assert len(workers) == 2
    assert {j.worker_name for j in catch_ups} == workers


@pytest.fixture
def small(redis_server: RedisServer, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment over a log of its own, about 1,000 events (not the seeded 30,000,
    which only cost these tests a first build and whole-log folds)."""
    seed = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    seed.init()
    fill_store(seed, 200, seed=9)
    seed.close()
    book = Deployment(tmp_path, tmp_path / "ledger.db", redis_server)
    yield book
    for worker in book.workers:
        worker.stop()
    for directory in book.scratch:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_burst_of_10000_single_event_appends_makes_far_fewer_jobs_than_events(
    small: Deployment,
) -> None:
    deployment = small
    deployment.move_store_to_memory()
    deployment.start_worker()
    deployment.wait_for_views(timeout=60)
    client = deployment.redis()
    config: ViewConfig = deployment.config
    store = deployment.store()
    claims = sorted(deployment.expected().claims)
    jobs_before = int(client.hget(config.keys.stats, "catch_up_jobs") or 0)
    started = time.monotonic()
    for i in range(10_000):
        event = NewEvent(claims[i % len(claims)], "NoteAdded", {"text": f"burst {i}"})
        store.append([event], actor="desk@example.org")
        request_catch_up(client, config)
    appended = time.monotonic() - started
    deployment.wait_for_views(timeout=60)
    jobs = int(client.hget(config.keys.stats, "catch_up_jobs") or 0) - jobs_before
    print(f"\n10,000 single-event appends in {appended:.1f}s made {jobs} catch-up jobs")
    assert jobs <= 1000


def test_each_append_is_caught_up_by_its_own_wake_up_with_no_tick_to_repair_a_lost_one(
    small: Deployment,
) -> None:
    # the tick (hourly here) would hide a lost wake-up within a second; with a 50 ms linger
    # the appends below fall before, at and after the moment the job leaves the head
    deployment = small
    deployment.env_overrides.update(LEDGER_VIEWS_TICK_SECONDS="3600", LEDGER_VIEWS_LINGER="0.05")
    client, config = deployment.redis(), deployment.config
    deployment.start_worker()
    request_catch_up(client, config)  # no views yet: starts the first build
    deployment.wait_for_views(timeout=60)
    claims = sorted(deployment.expected().claims)
    store = deployment.store()
    try:
        for i in range(30):  # 0 to 116 ms after the views reached the last append
            time.sleep(0.004 * i)  # not a wait: where this append falls in the linger
            head = store.append([NewEvent(claims[i % len(claims)], "NoteAdded",
                                          {"text": f"wake {i}"})], actor="desk@example.org")[-1]
            request_catch_up(client, config)
            wait_until(lambda p=head.position: _checkpoint(deployment) >= p, 10,
                       f"the views to reach append {i} (position {head.position}) by its"
                       f" wake-up alone (worker log in {deployment.directory})")
    finally:
        store.close()
    deployment.wait_for_views(timeout=10)


def test_views_of_a_longer_log_come_back_to_an_older_backup_restored_under_them(
    small: Deployment,
) -> None:
    deployment = small
    backup = deployment.directory / "backup.db"
    shutil.copyfile(deployment.db_path, backup)  # the log as it was (1,000 events)
    store = deployment.store()
    fill_store(store, 50, seed=10)  # then it grew
    store.close()
    worker = deployment.start_worker()
    grown = deployment.wait_for_views(timeout=60)
    worker.stop()
    for suffix in ("", "-wal", "-shm"):  # the operator restores the backup
        Path(f"{deployment.db_path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, deployment.db_path)
    deployment.start_worker()
    # the views hold positions this log does not have: rebuilt, they go back to its head
    restored = deployment.wait_for_views(timeout=60)
    assert restored.checkpoint < grown.checkpoint
