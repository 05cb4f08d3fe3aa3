"""Power lost at every sync point while a worker catches the views up: they recover to a fold.

The views live in a real Redis that keeps running (another machine's, in effect); the
ledger's disk loses power while one batch is being appended and the worker, a real
``claimledger worker`` reading the log on the same disk, catches up on the batch
before it. After each reboot a new worker must bring the views to exactly a fold of
the log that survived: never ahead of it, whatever they had read before the crash.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import checkpoint as cp
from ledger.store.sqlite import SQLiteEventStore
from tests.powerloss.crashing import (
    ACTOR,
    Beside,
    Ledger,
    Operation,
    Run,
    Scenario,
    crash_everywhere,
    prepare_image,
)
from tests.powerloss.mount import PowerLossMount
from tests.powerloss.test_sqlite_power_loss import MODES, TIMEOUT, recorded, report
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.workers import Deployment
from workers.coordination import request_catch_up
from workers.synthetic import synthetic_events
from workers.views import ViewReader, ViewsUnavailable

#: two batches of synthetic histories (about five events a claim)
FIRST = list(synthetic_events(20, seed=3))
SECOND = list(synthetic_events(20, seed=4))


class PowerWentDuringTheWait(OSError):
    """The power went (at a worker's sync point) before the views reached the head."""


class Workers(Beside):
    """One worker over the mount's ledger, and the Redis its views live in."""

    def __init__(self, deployment: Deployment, mount: PowerLossMount) -> None:
        self.deployment, self.mount = deployment, mount

    def booted(self) -> None:
        """A fresh world for the image: empty Redis, a worker, views of the image's log."""
        self.halt()
        self.deployment.redis().flushall()
        self.deployment.start_worker()
        self.deployment.wait_for_views(timeout=60)

    def halt(self) -> None:
        """SIGKILL the workers (they hold the ledger's files open)."""
        for worker in self.deployment.workers:
            worker.kill()
        self.deployment.workers.clear()

    def recovered(self) -> None:
        """A new worker brings the views to exactly a fold of the surviving log."""
        self.deployment.start_worker()
        self.deployment.wait_for_views(timeout=60)
        self.halt()


@pytest.fixture
def workers(powerloss: PowerLossMount, tmp_path: Path) -> Iterator[Workers]:
    """A private Redis and the worker processes, all stopped however the test ends."""
    with RedisServer(tmp_path / "redis") as redis:
        db = powerloss.mountpoint / "ledger" / "ledger.db"
        beside = Workers(Deployment(tmp_path, db, redis), powerloss)
        try:
            yield beside
        finally:
            beside.halt()


def a_ledger_with_views(ledger: Ledger, store: SQLiteEventStore) -> None:
    """An initialised ledger with a key and a few claims."""
    store.init()
    cp.save_signing_key(cp.generate_signing_key(), ledger.key)
    for n in range(3):
        store.append([recorded(str(uuid.uuid4()), n)], actor=ACTOR)


def two_batches_caught_up(workers: Workers) -> Operation:
    """Append a batch, ask for the catch-up, append the next while it runs, wait for it
    (or for the power to go: the worker's own syncs, its search index's, are sync points
    too, and once the power is off nothing on the disk answers, so no view can move)."""

    def operation(ledger: Ledger, store: SQLiteEventStore, run: Run) -> None:
        redis, config = workers.deployment.redis(), workers.deployment.config
        for batch in (FIRST, SECOND):
            run.acknowledged += store.append(batch, actor=ACTOR)
            request_catch_up(redis, config)  # what the API does after an append
        head, reader = store.head(), ViewReader(redis)

        def caught_up_or_power_gone() -> bool:
            with contextlib.suppress(ViewsUnavailable):
                if reader.checkpoint() == head:
                    return True
            return not workers.mount.powered

        wait_until(caught_up_or_power_gone, 60, f"the views to reach {head}", 0.05)
        if not workers.mount.powered:
            raise PowerWentDuringTheWait(head)
        workers.deployment.wait_for_views(timeout=60)  # the digests, at the head

    return operation


@pytest.mark.timeout(TIMEOUT)
def test_views_caught_up_while_the_power_went_recover_to_a_fold_of_the_surviving_log(
    powerloss: PowerLossMount, workers: Workers, tmp_path: Path
) -> None:
    scenario = Scenario(
        f"the views catch-up of a batch ({len(FIRST)} + {len(SECOND)} events)",
        a_ledger_with_views,
        two_batches_caught_up(workers),
        lambda b: {b, b + len(FIRST), b + len(FIRST) + len(SECOND)},
    )
    prepare_image(powerloss, scenario, tmp_path / "image")
    modes = MODES[:2]  # the views read only what was committed: tearing is enough
    figures = crash_everywhere(powerloss, scenario, tmp_path / "image", modes=modes,
                               beside=workers)
    report(figures)
    assert figures.crashes == 1 + figures.sync_points * len(modes)
    assert (figures.lost, figures.forked) == (0, 0)
