"""Fixtures and helpers for the views tests: real redis-server, real worker processes.

Test modules opt in by importing the fixture functions (``deployment_fixture`` and the
two it depends on, ``redis_server_fixture`` and ``seeded_log_fixture``); the fixtures
are registered under the names ``deployment``, ``redis_server`` and ``seeded_log``.
Nothing here touches the shared conftest files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from redis import Redis

from ledger.store import EventStore, open_store
from tests.support.paths import ROOT
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from workers.config import ViewConfig
from workers.digest import Snapshot, log_snapshot, views_snapshot
from workers.synthetic import fill_store
from workers.views import ViewReader, ViewsUnavailable

#: claims in the seeded log (about 5 events each: a little over 30,000 events)
SEED_CLAIMS = 6200
#: fast settings for tests: tick every second, locks expire after 2 s
FAST = {
    "LEDGER_VIEWS_TICK_SECONDS": "1",
    "LEDGER_VIEWS_LOCK_TTL": "2",
    "LEDGER_VIEWS_DROP_DELAY": "1",
}

__all__ = [
    "FIXTURES",
    "Deployment",
    "WorkerProcess",
    "deployment_fixture",
    "redis_server_fixture",
    "seeded_log_fixture",
]


@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server for one test."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture(name="seeded_log", scope="session")
def seeded_log_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A SQLite log of a little over 30,000 synthetic events, built once per session."""
    directory = tmp_path_factory.mktemp("seeded-log")
    path = directory / "ledger.db"
    store = open_store(f"sqlite:///{path}")
    store.init()
    head = fill_store(store, SEED_CLAIMS, seed=11)
    store.close()
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, head


@dataclass
class WorkerProcess:
    """A ``claimledger worker`` subprocess in its own process group."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        """Start the worker (returns at once; it registers with Redis shortly after)."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from api.cli import main; main()", "worker"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL the worker and everything it forked (job process, scheduler).

        RQ puts each job's process in a session of its own, so killing the worker's
        process group would leave a running job behind: kill every descendant.
        """
        if self.process is None:
            return
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        """Ask the worker to stop (SIGTERM), then kill it if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()


@dataclass
class Deployment:
    """A store, a Redis and the worker processes of one test."""

    directory: Path
    db_path: Path
    server: RedisServer
    partitions: int = 1
    workers: list[WorkerProcess] = field(default_factory=list)
    env_overrides: dict[str, str] = field(default_factory=dict)
    scratch: list[Path] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        """The store's URL."""
        return f"sqlite:///{self.db_path}"

    @property
    def config(self) -> ViewConfig:
        """The projection config the workers use."""
        return ViewConfig(database_url=self.database_url, partitions=self.partitions,
                          tick_interval=1, lock_ttl=2, drop_delay=1)

    @property
    def env(self) -> dict[str, str]:
        """Environment of a ``claimledger`` subprocess for this ledger."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update(FAST)
        env.update(
            LEDGER_DATABASE_URL=self.database_url,
            LEDGER_REDIS_URL=self.server.url,
            LEDGER_PARTITIONS=str(self.partitions),
            LEDGER_DATA_DIR=str(self.directory),
            PYTHONPATH=str(ROOT),
        )
        env.update(self.env_overrides)
        return env

    def move_store_to_memory(self) -> None:
        """Move the SQLite file to tmpfs (/dev/shm) when there is one.

        For tests that append one event per transaction: on a shared machine an fsync
        per commit can cost tens of milliseconds, which says nothing about the views.
        """
        shm = Path("/dev/shm")
        if not (shm.is_dir() and os.access(shm, os.W_OK)):
            return
        directory = Path(tempfile.mkdtemp(prefix="views-test-", dir=shm))
        self.scratch.append(directory)
        target = directory / "ledger.db"
        shutil.copyfile(self.db_path, target)
        self.db_path = target

    def store(self) -> EventStore:
        """A fresh connection to the store."""
        return open_store(self.database_url)

    def redis(self) -> Redis:
        """A fresh Redis client."""
        return self.server.client()

    def start_worker(self) -> WorkerProcess:
        """Start one more worker process."""
        number = len(self.workers) + 1
        worker = WorkerProcess(self.env, self.directory / f"worker-{number}.log").start()
        self.workers.append(worker)
        return worker

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a ``claimledger`` command to completion."""
        return subprocess.run(
            [sys.executable, "-c", "from api.cli import main; main()", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )

    def expected(self) -> Snapshot:
        """The views a from-scratch fold of the whole log gives."""
        store = self.store()
        try:
            return log_snapshot(store)
        finally:
            store.close()

    def wait_for_views(self, timeout: float = 60) -> Snapshot:
        """Wait until the live views hold exactly the fold of the whole log."""
        expected = self.expected()
        reader = ViewReader(self.redis())

        def caught_up() -> bool:
            try:
                return reader.checkpoint() == expected.checkpoint
            except ViewsUnavailable:
                return False

        wait_until(caught_up, timeout, f"the views to reach {expected.checkpoint}", 0.02)
        # at the head nothing changes any more: one comparison settles it
        snapshot = views_snapshot(reader.redis)
        if snapshot.digest() != expected.digest():
            raise AssertionError(f"views differ from the log: {snapshot.differences(expected)};"
                                 f" logs in {self.directory}")
        return snapshot

    def worker_logs(self) -> str:
        """Everything the workers printed (for failure messages)."""
        return "\n".join(w.log_path.read_text(errors="replace") for w in self.workers
                         if w.log_path.exists())


@pytest.fixture(name="deployment")
def deployment_fixture(
    tmp_path: Path, redis_server: RedisServer, seeded_log: tuple[Path, int]
) -> Iterator[Deployment]:
    """A copy of the seeded log, a private Redis, and cleanup of any worker started."""
    source, _ = seeded_log
    db_path = tmp_path / "ledger.db"
    shutil.copyfile(source, db_path)
    book = Deployment(tmp_path, db_path, redis_server)
    yield book
    for worker in book.workers:
        worker.stop()
    for directory in book.scratch:
        shutil.rmtree(directory, ignore_errors=True)


#: everything a test module imports to use the ``deployment`` fixture
FIXTURES = (deployment_fixture, redis_server_fixture, seeded_log_fixture)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, …), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
