"""Scale-out: two ``claimledger serve`` instances and two workers on one PostgreSQL log
and one Redis, under a mixed load from several client processes, through faults.

Both instances share what must match between hosts (the signing key, copied into each
one's data directory; the log origin; the secret; the partitions) and nothing else.
Client processes spread their requests over both instances round-robin and retry a
write on the other instance with the same Idempotency-Key (``scale_out_clients``). While
they run, instance 0 is SIGKILLed (its whole gunicorn group) and restarted, a worker is
SIGKILLed and replaced, and Redis is restarted empty. Afterwards: every acknowledged
append is in the log exactly once under its key, positions are gap-free, ``claimledger
audit`` is clean, no size has two roots among the stored checkpoints and every
checkpoint either instance served (each matching the log), the views equal a fold of
the log, the projection lag is 0 on both instances, and no request was answered with a
5xx outside the fault windows (recorded as monotonic timestamps; clients run on the
same machine, whose monotonic clock all processes share).

CI runs one round of faults over a short load; ``LEDGER_TEST_LONG=1`` runs three rounds
with more clients and more writes between faults.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from api import credentials as api_tokens
from ledger import checkpoint as cp
from ledger.store import open_store
from tests.e2e.scale_out_clients import run_client
from tests.support.clients import Ack, check_log, kill_group
from tests.support.long import LONG
from tests.support.net import free_port
from tests.support.redis_server import RedisServer
from tests.support.server import Server, cli, launch_serve, ledger_env
from tests.support.waiting import wait_until
from tests.support.workers import FAST, WorkerProcess
from workers.digest import log_snapshot, views_snapshot
from workers.views import ViewReader, ViewsUnavailable

CLIENTS = 6 if LONG else 3
ROUNDS = 3 if LONG else 1
#: acknowledged appends between one fault and the next
BETWEEN = 150 if LONG else 15
TIMEOUT = 1800 if LONG else 300
ORIGIN = "scale-out.example/log"


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database of its own (the append advisory lock is per database,
    so no other test's appends queue with ours), dropped afterwards."""
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("LEDGER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("LEDGER_TEST_REQUIRE_POSTGRES=1 but LEDGER_TEST_POSTGRES_URL is not set")
        pytest.skip("LEDGER_TEST_POSTGRES_URL is not set")
    name = "scale_out_" + secrets.token_hex(6)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a fixed-shape name of hex digits
    yield urlunsplit(urlsplit(base)._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass
class ScaleOut:
    """Two instances, two workers, one Redis, one PostgreSQL database."""

    directory: Path
    redis: RedisServer
    envs: list[dict[str, str]]
    ports: list[int]
    tokens: dict[str, str]
    servers: list[Server] = field(default_factory=list)
    workers: list[WorkerProcess] = field(default_factory=list)
    #: (what, began, ended) of every fault, on the monotonic clock
    windows: list[tuple[str, float, float]] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, database: str, redis: RedisServer) -> ScaleOut:
        shared = {"LEDGER_DATABASE_URL": database, "LEDGER_REDIS_URL": redis.url,
                  "LEDGER_LOG_ORIGIN": ORIGIN, "LEDGER_SECRET_KEY": secrets.token_hex(32),
                  "LEDGER_PARTITIONS": "2", "LEDGER_CHECKPOINT_INTERVAL": "0.2", **FAST}
        envs = [ledger_env(directory / f"host{n}", **shared) for n in range(2)]
        cli(envs[0], "init")  # creates the signing key in host0's data directory
        host1 = directory / "host1"
        host1.mkdir(mode=0o700)
        shutil.copy2(directory / "host0" / "signing.key", host1 / "signing.key")
        store = open_store(database)  # in process: each CLI run costs seconds of start-up
        try:
            tokens = {role: api_tokens.create(store, name=f"scale-{role}", role=role,
                                              created_by="test")[1]
                      for role in ("editor", "reader", "auditor")}
        finally:
            store.close()
        cluster = cls(directory, redis, envs, [free_port(), free_port()], tokens)
        with ThreadPoolExecutor(2) as pool:
            cluster.servers = list(pool.map(cluster.launch, range(2)))
        cluster.workers = [cluster.start_worker(n) for n in range(2)]
        return cluster

    def launch(self, n: int) -> Server:
        """Instance ``n`` on its port, once /readyz answers."""
        return launch_serve(self.envs[n], self.directory / f"serve{n}.log", self.tokens,
                            port=self.ports[n])

    def start_worker(self, n: int) -> WorkerProcess:
        log = self.directory / f"worker{n}-{len(self.workers)}.log"
        return WorkerProcess(self.envs[n % 2], log).start()

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def head(self) -> int:
        store = open_store(self.envs[0]["LEDGER_DATABASE_URL"])
        try:
            return store.head()
        finally:
            store.close()

    def views_checkpoint(self) -> int:
        try:
            return ViewReader(self.redis.client()).checkpoint()
        except (ViewsUnavailable, OSError):
            return -1

    def lists_answer(self) -> bool:
        """The claim list (read from the views) answers 200 on both instances."""
        headers = {"Authorization": f"Bearer {self.tokens['reader']}"}
        try:
            return all(httpx.get(f"{url}/v1/claims?limit=1", headers=headers, timeout=5)
                       .status_code == 200 for url in self.urls)
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for server in self.servers:
            server.stop()

    def logs(self) -> str:
        """The end of every server and worker log (for failure messages)."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                         for p in sorted(self.directory.glob("*.log")))


@dataclass
class Journals:
    """What the client processes journaled, read incrementally (polled while they run)."""

    paths: list[Path]
    _read: dict[Path, int] = field(default_factory=dict)  # bytes of whole lines read
    _records: list[dict[str, Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Every whole line journaled so far, parsed."""
        for path in self.paths:
            if not path.exists():
                continue
            with path.open("rb") as handle:
                handle.seek(self._read.get(path, 0))
                chunk = handle.read()
            whole = chunk[:chunk.rfind(b"\n") + 1]
            self._read[path] = self._read.get(path, 0) + len(whole)
            self._records.extend(json.loads(line) for line in whole.splitlines())
        return self._records

    def acks(self) -> list[dict[str, Any]]:
        """The acknowledged appends."""
        return [r for r in self.records() if "ack" in r]

    def count(self, since: float = 0.0, instance: int | None = None) -> int:
        """Appends acknowledged after ``since`` (by ``instance``, if given)."""
        return sum(1 for r in self.acks() if r["t"] >= since
                   and (instance is None or r["instance"] == instance))


def wait_for_acks(journals: Journals, more: int, what: str, *, since: float = 0.0,
                  instance: int | None = None) -> None:
    target = journals.count(since, instance) + more
    wait_until(lambda: journals.count(since, instance) >= target
               or any("failure" in r for r in journals.records()), 120, what, every=0.1)
    failures = [r["failure"] for r in journals.records() if "failure" in r]
    assert not failures, failures


def faults(cluster: ScaleOut, journals: Journals) -> dict[str, list[float]]:
    """Each round: kill instance 0 and restart it, kill a worker and replace it, restart
    Redis empty; appends flow between them. Returns seconds to recover, by fault."""
    took: dict[str, list[float]] = {"instance": [], "views after redis": []}
    for _ in range(ROUNDS):
        wait_for_acks(journals, BETWEEN, "appends before the instance is killed")
        began = time.monotonic()
        kill_group(cluster.servers[0].process)
        cluster.servers[0] = cluster.launch(0)
        ended = time.monotonic()
        cluster.windows.append(("instance 0 SIGKILLed", began, ended))
        took["instance"].append(ended - began)
        wait_for_acks(journals, 3, "appends on the restarted instance", since=ended, instance=0)

        wait_for_acks(journals, BETWEEN, "appends before a worker is killed")
        began = time.monotonic()
        victim = cluster.workers.pop(0)
        victim.kill()
        cluster.workers.append(cluster.start_worker(0))
        cluster.windows.append(("worker SIGKILLed", began, time.monotonic()))

        wait_for_acks(journals, BETWEEN, "appends before Redis restarts")
        began = time.monotonic()
        cluster.redis.restart_empty()
        head = cluster.head()
        wait_until(lambda head=head: cluster.views_checkpoint() >= head
                   and cluster.lists_answer(), 90, "the views back after Redis restarted")
        ended = time.monotonic()
        cluster.windows.append(("redis restarted empty", began, ended))
        took["views after redis"].append(ended - began)
    wait_for_acks(journals, BETWEEN, "appends after the last fault")
    return took


def settle(cluster: ScaleOut) -> int:
    """Wait until both instances report lag 0 at the log's head; the views equal a fold."""
    head = cluster.head()

    def caught_up() -> bool:
        headers = {"Authorization": f"Bearer {cluster.tokens['reader']}"}
        for url in cluster.urls:
            try:
                answer = httpx.get(f"{url}/v1/projections", headers=headers, timeout=10)
            except httpx.TransportError:
                return False
            if answer.status_code != 200:
                return False
            summary = answer.json()
            if (summary["head"], summary["lag"]) != (head, 0):
                return False
        return True

    wait_until(caught_up, 60, f"lag 0 at head {head} on both instances")
    store = open_store(cluster.envs[0]["LEDGER_DATABASE_URL"])
    try:
        expected = log_snapshot(store)
    finally:
        store.close()
    snapshot = views_snapshot(cluster.redis.client())
    assert snapshot.digest() == expected.digest(), snapshot.differences(expected)
    return head


def assert_checkpoints(cluster: ScaleOut, journals: Journals, verifier: str) -> int:
    """No size has two roots among stored and served checkpoints; each is the log's root."""
    database = cluster.envs[0]["LEDGER_DATABASE_URL"]
    with psycopg.connect(database) as conn:
        stored = [(int(s), bytes(r)) for s, r in
                  conn.execute("SELECT size, root FROM checkpoints").fetchall()]
    served = [cp.open_checkpoint(r["note"], verifier, origin=ORIGIN)
              for r in journals.records() if "note" in r]  # each signature checked
    roots: dict[int, set[bytes]] = {}
    for size, root in [*stored, *((c.size, c.root) for c in served)]:
        roots.setdefault(size, set()).add(root)
    forked = {size: found for size, found in roots.items() if len(found) > 1}
    assert forked == {}, f"two roots for one size: {forked}"
    store = open_store(database)
    try:
        for size, found in roots.items():
            assert found == {store.root(size)}, f"the checkpoint of size {size} forks the log"
    finally:
        store.close()
    by_instance = {r["instance"] for r in journals.records() if "note" in r}
    assert by_instance == {0, 1}, f"checkpoints were served by instances {by_instance} only"
    return len(roots)


def five_hundreds_outside(records: list[dict[str, Any]],
                          windows: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """Answers >= 500 to requests that overlap no fault window."""
    return [r for r in records if (r.get("status") or 0) >= 500
            and not any(r["t0"] <= end and r["t1"] >= began for _, began, end in windows)]


def five_hundreds(records: list[dict[str, Any]],
                  windows: list[tuple[str, float, float]]) -> dict[str, int]:
    """How many answers >= 500 each kind of request got in each fault window."""
    counted: Counter[str] = Counter()
    for r in records:
        if (r.get("status") or 0) >= 500:
            for what, began, end in windows:
                if r["t0"] <= end and r["t1"] >= began:
                    counted[f"{r['kind']} during {what}"] += 1
    return dict(counted)


@pytest.mark.timeout(TIMEOUT)
def test_two_instances_and_two_workers_on_one_postgres_log_lose_nothing_through_faults(
    tmp_path: Path, database: str,
) -> None:
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    journals = Journals([tmp_path / f"client{n}.ndjson" for n in range(CLIENTS)])
    processes: list[Any] = []
    with RedisServer(tmp_path / "redis") as redis:
        cluster = ScaleOut.start(tmp_path, database, redis)
        try:
            wait_until(lambda: cluster.views_checkpoint() >= 0 and cluster.lists_answer(), 60,
                       "the views on both instances")
            keys = {httpx.get(f"{url}/v1/log/key", timeout=10, headers={
                "Authorization": f"Bearer {cluster.tokens['auditor']}"}).json()["verifier_key"]
                for url in cluster.urls}
            assert len(keys) == 1, f"the instances sign with different keys: {keys}"
            processes = [context.Process(target=run_client, args=(
                f"client{n}", cluster.urls, cluster.tokens, str(path), stop))
                for n, path in enumerate(journals.paths)]
            for process in processes:
                process.start()
            try:
                recovered = faults(cluster, journals)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{cluster.logs()}") from None
            finally:
                stop.set()
                for process in processes:
                    process.join(120)
            head = settle(cluster)
        finally:
            stop.set()
            for process in processes:
                if process.is_alive():
                    process.kill()
            cluster.stop()
    records = journals.records()
    assert [r["failure"] for r in records if "failure" in r] == []
    assert len([r for r in records if "done" in r]) == CLIENTS, "a client did not finish"
    acks = {r["ack"]: Ack(r["ack"], r["claim_id"], r["event_id"], r["position"], r["tries"],
                          r["replayed"], 0.0) for r in records if "ack" in r}
    assert len(acks) == sum(1 for r in records if "ack" in r), "a key acknowledged twice"
    store = open_store(database)
    try:
        log = check_log(store, acks)
    finally:
        store.close()
    assert log.duplicates == 0, log.events_per_key.most_common(5)
    assert (log.missing, log.gaps, log.mismatched) == ([], [], [])
    assert set(log.events_per_key) == set(acks), "an event in the log was never acknowledged"
    assert log.head == head == len(acks)
    by_instance = [sum(1 for r in records if "ack" in r and r["instance"] == n) for n in (0, 1)]
    assert all(by_instance), f"appends acknowledged by instance: {by_instance}"
    audit = cli(cluster.envs[1], "audit", "--quiet", check=False)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    sizes = assert_checkpoints(cluster, journals, keys.pop())
    late = five_hundreds_outside(records, cluster.windows)
    assert late == [], f"5xx outside the fault windows {cluster.windows}: {late[:5]}"
    answers = [r for r in records if "kind" in r]
    print(f"\nscale-out: 2 instances, 2 workers, {CLIENTS} clients, {ROUNDS} round(s) of faults"
          f" in {time.monotonic() - started:.1f}s: {len(acks)} appends (by instance"
          f" {by_instance}), {len(answers)} answers, "
          f"{sum(1 for r in answers if r['status'] is None)} transport errors, "
          f"5xx (all in fault windows) {five_hundreds(answers, cluster.windows)},"
          f" {sum(1 for a in acks.values() if a.replayed)} idempotent replays,"
          f" {sizes} checkpoint sizes, one root each; instance back in"
          f" {max(recovered['instance']):.1f}s, views after Redis in"
          f" {max(recovered['views after redis']):.1f}s; audit clean, views = fold, lag 0")

