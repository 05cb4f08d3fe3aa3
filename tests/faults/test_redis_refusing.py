"""A Redis that answers but refuses (out of memory under ``noeviction``): the worker backs off.

A full Redis still answers PING, so a worker that took every error for a lost connection
restarted at once, forever (about 1,900 log lines a second at 76 % CPU). Now it waits
longer and longer between attempts (up to ``LEDGER_VIEWS_BACKOFF_MAX``), says why in one
line at most once a minute, ``/readyz`` and ``/v1/projections`` name the refusal, and the
views catch up on their own once memory is freed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from redis.exceptions import OutOfMemoryError

from tests.support.api_harness import ApiHarness
from tests.support.long import LONG, scaled
from tests.support.paths import ROOT
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.workers import FAST, WorkerProcess, descendants
from workers.views import ViewReader, ViewsUnavailable

#: seconds of refusals the worker's CPU time is measured over (long: past the minute,
#: so the reason is said a second time)
WINDOW = scaled(5, 70)
#: the backoff's cap in this test, so recovery is seen within seconds
BACKOFF_MAX = 2
REASON = "the worker cannot work: Redis is out of memory"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and every process below it (from /proc)."""
    ticks = 0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        # utime, stime, cutime, cstime (fields 14-17 of stat; 12-15 after the name)
        ticks += sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _fill(redis: RedisServer) -> int:
    """Give Redis a small maxmemory under noeviction and write filler until it refuses."""
    client = redis.client()
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", str(used + 512 * 1024))
    written = 0
    refused = None
    while refused is None and written < 10_000:
        try:
            client.set(f"filler:{written}", b"x" * 16_384)
            written += 1
        except OutOfMemoryError as exc:
            refused = exc
    client.close()
    assert refused is not None, "Redis never filled up"
    return written


@pytest.mark.timeout(scaled(120, 300))
def test_a_worker_facing_a_full_redis_backs_off_says_why_and_recovers(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    api = ApiHarness.create(tmp_path, REDIS_URL=redis.url)
    claims = [api.new_claim() for _ in range(5)]
    head = api.store.head()
    filler = _fill(redis)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(FAST, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
               LEDGER_REDIS_URL=redis.url, LEDGER_DATA_DIR=str(tmp_path),
               LEDGER_VIEWS_BACKOFF_MAX=str(BACKOFF_MAX), PYTHONPATH=str(ROOT))
    log_path = tmp_path / "worker.log"
    worker = WorkerProcess(env, log_path).start()
    assert worker.process is not None
    try:
        wait_until(lambda: REASON in log_path.read_text(errors="replace"), 30,
                   "the worker to say Redis is out of memory")
        lines_before = len(log_path.read_text(errors="replace").splitlines())
        cpu_before, started = _cpu_seconds(worker.process.pid), time.monotonic()
        # the window is measured, not waited on: the API is asked every 0.5 s meanwhile
        def probed_through_the_window() -> bool:
            ready = api.client.get("/readyz")
            assert ready.status_code == 200
            assert ready.get_json()["status"] == "degraded"
            assert ready.get_json()["checks"]["redis"] == "refused"
            assert "out of memory" in ready.get_json()["reasons"]["redis"]
            projections = api.get("/v1/projections")
            assert projections.status_code == 200, projections.get_json()
            assert projections.get_json()["redis_refusal"]["kind"] == "out_of_memory"
            assert "maxmemory" in projections.get_json()["redis_refusal"]["detail"]
            return time.monotonic() - started >= WINDOW

        wait_until(probed_through_the_window, WINDOW + 30, "the measured window", 0.5)
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(worker.process.pid) - cpu_before
        text = log_path.read_text(errors="replace")
        assert worker.process.poll() is None, text[-2000:]
        share = cpu / elapsed
        print(f"\nworker facing a full Redis: {cpu:.2f} s CPU in {elapsed:.1f} s"
              f" ({100 * share:.1f} %), {len(text.splitlines()) - lines_before} log lines")
        assert share < 0.05, f"the worker used {100 * share:.1f} % CPU: {text[-2000:]}"
        said = text.count(REASON)
        assert said == (2 if LONG else 1), text[-3000:]
        assert len(text.splitlines()) - lines_before <= 2 * said + 2, text[-3000:]

        client = redis.client()  # free the memory: the views come back on their own
        client.delete(*[f"filler:{n}" for n in range(filler)])
        client.config_set("maxmemory", "0")
        reader = ViewReader(client)

        def caught_up() -> bool:
            try:
                return reader.checkpoint() == head
            except ViewsUnavailable:
                return False

        wait_until(caught_up, 30, "the views to catch up once memory is free", 0.05)
        assert "accepts the worker's commands again" in log_path.read_text(errors="replace")
        assert api.client.get("/readyz").get_json() == {
            "status": "ready", "checks": {"store": "ok", "redis": "ok"}}
        assert api.get("/v1/projections").get_json()["redis_refusal"] is None
        assert api.get("/v1/claims?limit=10").get_json()["items"]
        assert len(claims) == 5
    finally:
        worker.stop()
        redis.stop()


#: how to make a real Redis refuse, what it is then named, and how to make it accept again
REFUSALS = {
    "read_only": (("REPLICAOF", "127.0.0.1", "1"),  # a primary that never answers
                  "read-only replica", ("REPLICAOF", "NO", "ONE")),
    "no_permission": (("ACL", "SETUSER", "ledger", "on", ">pw", "~*", "&*", "+@all", "-@write"),
                      "ACL", ("ACL", "SETUSER", "ledger", "+@all")),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_refusing_redis_is_named_and_the_worker_carries_on_once_it_accepts(
    tmp_path: Path, kind: str,
) -> None:
    refuse, named, accept = REFUSALS[kind]
    redis = RedisServer(tmp_path / "redis").start()
    client = redis.client()
    client.execute_command(*refuse)
    url = redis.url.replace("redis://", "redis://ledger:pw@") if kind == "no_permission" \
        else redis.url
    api = ApiHarness.create(tmp_path, REDIS_URL=url)
    api.new_claim()
    head = api.store.head()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(FAST, LEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
               LEDGER_REDIS_URL=url, LEDGER_DATA_DIR=str(tmp_path),
               LEDGER_VIEWS_BACKOFF_MAX=str(BACKOFF_MAX), PYTHONPATH=str(ROOT))
    log_path = tmp_path / "worker.log"
    worker = WorkerProcess(env, log_path).start()
    try:
        wait_until(lambda: "the worker cannot work: Redis" in log_path.read_text(
            errors="replace"), 30, "the worker to say why it cannot work")
        said = log_path.read_text(errors="replace")
        assert named in said.split("the worker cannot work:", 1)[1].splitlines()[0], said
        ready = api.client.get("/readyz").get_json()
        assert (ready["checks"]["redis"], ready["status"]) == ("refused", "degraded")
        assert named in ready["reasons"]["redis"]
        assert api.get("/v1/projections").get_json()["redis_refusal"]["kind"] == kind
        client.execute_command(*accept)
        reader = ViewReader(client)

        def caught_up() -> bool:
            try:
                return reader.checkpoint() == head
            except ViewsUnavailable:
                return False

        wait_until(caught_up, 30, "the views to be built once Redis is a primary", 0.05)
    finally:
        worker.stop()
        redis.stop()
