"""Workers SIGKILLed again and again during catch-up and during ``claimledger rebuild``.

``tests/e2e/test_workers_catch_up.py`` kills one worker three times during one import;
here two workers on two partitions are killed (one or both at a time) across many
imports, and the worker running an operator's rebuild is killed again and again: the
rebuild must be resumed without the operator, the waiting ``claimledger rebuild`` must
report it done, and the views must end equal to a fold of the log, the search index
equal to a fresh rebuild of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.search import open_search_index
from ledger.search.sqlite import SQLiteSearchIndex
from ledger.store import open_store
from tests.support.long import scaled
from tests.support.paths import ROOT
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.workers import Deployment, WorkerProcess
from workers.config import text
from workers.coordination import job_state, read_pointer, request_catch_up
from workers.rebuild import rebuild_lock_ttl
from workers.search import rebuild_search
from workers.synthetic import fill_store
from workers.views import ViewReader, ViewsUnavailable

CATCH_UP_ROUNDS = scaled(2, 12)
#: pytest-timeout's limit for each test (the suite's default is 300 s)
TIMEOUT = scaled(300, 1800)
#: claims per import in a catch-up round (about five events each)
IMPORT_CLAIMS = scaled(300, 1000)
REBUILD_KILLS = scaled(2, 6)
#: claims in the log being rebuilt: more than one rebuild batch (5,000 events)
REBUILD_CLAIMS = scaled(1100, 6200)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Deployment]:
    """An empty initialised SQLite log, a private Redis; every worker stopped afterwards."""
    db_path = tmp_path / "ledger.db"
    open_store(f"sqlite:///{db_path}").init()
    with RedisServer(tmp_path / "redis") as redis:
        deployment = Deployment(tmp_path, db_path, redis, partitions=2)
        try:
            yield deployment
        finally:
            for worker in deployment.workers:
                worker.stop()


def _checkpoint(deployment: Deployment) -> int:
    try:
        return ViewReader(deployment.redis()).checkpoint()
    except (ViewsUnavailable, OSError):
        return -1


def _alive(deployment: Deployment) -> list[WorkerProcess]:
    return [w for w in deployment.workers if w.process is not None]


def _keep_two_running(deployment: Deployment) -> None:
    while len(_alive(deployment)) < 2:
        deployment.start_worker()


@pytest.mark.timeout(TIMEOUT)
def test_views_equal_the_log_after_workers_are_killed_one_or_both_during_each_catch_up(
    fresh: Deployment,
) -> None:
    fresh.env_overrides["LEDGER_VIEWS_BATCH"] = "50"
    _keep_two_running(fresh)
    wait_until(lambda: _checkpoint(fresh) == 0, 30, "views of the empty log")
    store = fresh.store()
    redis = fresh.redis()
    kills: list[tuple[int, int, int]] = []  # (workers killed, checkpoint, head)
    started = time.monotonic()
    # a round whose catch-up outran the kill (a busy host) proves nothing: it is done again
    for round_ in range(3 * CATCH_UP_ROUNDS):
        if sum(1 for k in kills if k[1] < k[2]) == CATCH_UP_ROUNDS:
            break
        before = max(_checkpoint(fresh), 0)
        head = fill_store(store, IMPORT_CLAIMS, seed=100 + round_)
        request_catch_up(redis, fresh.config)  # what the API does after an append
        _keep_two_running(fresh)
        target = before + (head - before) // 3
        wait_until(lambda target=target: _checkpoint(fresh) >= target, 60,
                   f"catch-up past {target} (see {fresh.directory})", every=0.005)
        victims = _alive(fresh) if round_ % 2 == 0 else _alive(fresh)[:1]
        for worker in victims:
            worker.kill()
        kills.append((len(victims), _checkpoint(fresh), head))
    _keep_two_running(fresh)
    fresh.wait_for_views(timeout=90)
    landed = [k for k in kills if k[1] < k[2]]
    assert len(landed) == CATCH_UP_ROUNDS, f"too few kills landed mid-catch-up: {kills}"
    assert_search_exact(fresh)
    print(f"\n{sum(k[0] for k in landed)} workers killed in {len(landed)} catch-ups of"
          f" {IMPORT_CLAIMS} claims each ({kills[-1][2]} events in all), at checkpoints"
          f" {[k[1] for k in landed]}; views equal the log"
          f" {time.monotonic() - started:.1f}s after the first import")


@pytest.mark.timeout(TIMEOUT)
def test_a_rebuild_whose_worker_is_killed_again_and_again_completes_without_the_operator(
    fresh: Deployment,
) -> None:
    store = fresh.store()
    fill_store(store, REBUILD_CLAIMS, seed=7)
    _keep_two_running(fresh)
    fresh.wait_for_views(timeout=90)
    redis = fresh.redis()
    keys = fresh.config.keys
    before = read_pointer(redis, keys)
    assert before is not None
    operator = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "rebuild"],
        cwd=ROOT, env=fresh.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    killed: list[str] = []
    points: list[int] = []
    started = time.monotonic()
    try:
        for kill in range(REBUILD_KILLS):
            # the rebuild job running now (a new one after each kill: the tick resumes it)
            holder = wait_until(
                lambda: _rebuilding_job(fresh, killed), 60,
                f"a rebuild job after kill {kill} (see {fresh.directory})", every=0.005)
            building = json.loads(text(redis.get(keys.building)) or "{}")
            for worker in _alive(fresh):
                worker.kill()
            killed.append(holder)
            generation = int(building["generation"])
            points.append(int(text(redis.get(keys.part(generation, 0).checkpoint)) or 0))
            assert read_pointer(redis, keys) == before, "the rebuild finished before a kill"
            fill_store(store, 20, seed=200 + kill)  # the log moves on meanwhile
            _keep_two_running(fresh)
        out, err = operator.communicate(timeout=120)
    finally:
        if operator.poll() is None:
            operator.kill()
            operator.wait()
    assert operator.returncode == 0, err + fresh.worker_logs()[-3000:]
    after = read_pointer(redis, keys)
    assert after is not None
    assert after.generation > before.generation
    assert f"generation {after.generation} is live" in out
    assert err.count("died with its worker") >= 1, err
    fresh.wait_for_views(timeout=60)
    prefix = keys.generation_prefix(before.generation)
    wait_until(lambda: not any(True for _ in redis.scan_iter(match=prefix + "*")), 30,
               "the old generation to be dropped")
    assert_search_exact(fresh)
    print(f"\nrebuild of {store.head()} events: its worker killed {len(killed)} times (at"
          f" building checkpoints {points}), resumed by the tick each time; generation"
          f" {after.generation} live {time.monotonic() - started:.1f}s after the operator"
          " asked; views equal the log")


def assert_search_exact(deployment: Deployment) -> None:
    """The search index, once at the head, holds exactly what a fresh rebuild of the log
    holds: every claim's document, filter names and word counts."""
    store = deployment.store()
    index = open_search_index(deployment.database_url)

    def at_head() -> bool:
        live = index.live()
        head = store.head()
        return live is not None and all(c == head for c in index.checkpoints(live.generation))

    wait_until(at_head, 90, f"the search index at the head (see {deployment.directory})")
    live = index.live()
    assert live is not None
    reference = SQLiteSearchIndex(str(deployment.directory / "reference.search"))
    generation, _ = rebuild_search(reference, store, store.scales, live.partitions,
                                   batch_size=997)
    assert index.snapshot(live.generation) == reference.snapshot(generation)


def _rebuilding_job(deployment: Deployment, killed: list[str]) -> str | None:
    """The id of a rebuild job at work that was not killed yet: it runs, has renewed the
    lock it took when queued, and a generation is being built."""
    redis = deployment.redis()
    keys = deployment.config.keys
    holder = text(redis.get(keys.rebuild_lock))
    if holder is None or holder in killed or not redis.exists(keys.building):
        return None
    if redis.pttl(keys.rebuild_lock) > rebuild_lock_ttl(deployment.config) * 1000:
        return None
    return holder if job_state(redis, holder) == "started" else None
