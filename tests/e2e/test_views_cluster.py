"""The views on a local three-master Redis Cluster, RQ's queues on a standalone Redis.

A real ``claimledger worker`` with ``LEDGER_REDIS_URL=redis+cluster://…`` and
``LEDGER_QUEUE_REDIS_URL=redis://…``: it builds the views across the cluster's nodes,
catches up after appends, rebuilds on request, and after a node restarts empty (its
partitions and perhaps the pointer gone) brings the views back to a fold of the log by
itself; the API reads the list, a claim and the projections through the cluster, and
``claimledger redact`` purges a payload from every node. A
plain URL to a cluster node is refused by the worker and named by ``/readyz``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api_harness import ApiHarness
from tests.support.long import LONG
from tests.support.paths import ROOT
from tests.support.redis_cluster import RedisClusterNodes
from tests.support.redis_server import RedisServer
from tests.support.redis_text import keys_holding
from tests.support.waiting import wait_until
from tests.support.workers import FAST, WorkerProcess
from workers.config import connect, connect_views
from workers.digest import log_snapshot, views_snapshot
from workers.synthetic import fill_store
from workers.views import ViewReader, ViewsUnavailable

#: claims in the log (about 5 events each); a bigger log under LEDGER_TEST_LONG
CLAIMS = 4000 if LONG else 300
PARTITIONS = 4


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterNodes]:
    """Three masters on free ports."""
    with RedisClusterNodes(tmp_path / "cluster") as nodes:
        yield nodes


class Ledger:
    """The API (a test client), a worker process, the cluster and the queues' Redis."""

    def __init__(self, tmp_path: Path, cluster: RedisClusterNodes, queues: RedisServer) -> None:
        self.tmp_path, self.cluster, self.queues = tmp_path, cluster, queues
        self.api = ApiHarness.create(tmp_path, REDIS_URL=cluster.url,
                                     QUEUE_REDIS_URL=queues.url, PARTITIONS=PARTITIONS)
        self.views = connect_views(cluster.url, queue=connect(queues.url))
        self.reader = ViewReader(self.views)
        self.workers: list[WorkerProcess] = []

    def env(self, **changes: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update(FAST, LEDGER_DATABASE_URL=f"sqlite:///{self.tmp_path / 'ledger.db'}",
                   LEDGER_REDIS_URL=self.cluster.url, LEDGER_QUEUE_REDIS_URL=self.queues.url,
                   LEDGER_PARTITIONS=str(PARTITIONS), LEDGER_DATA_DIR=str(self.tmp_path),
                   PYTHONPATH=str(ROOT))
        env.update(changes)
        return env

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env(), self.tmp_path / f"worker-{len(self.workers)}.log")
        self.workers.append(worker.start())
        return worker

    def logs(self) -> str:
        return "\n".join(w.log_path.read_text(errors="replace")[-3000:] for w in self.workers
                         if w.log_path.exists())

    def wait_for_fold(self, timeout: float = 60) -> int:
        """Wait until the views hold exactly the fold of the whole log; their generation."""
        expected = log_snapshot(self.api.store)

        def caught_up() -> bool:
            try:
                return self.reader.checkpoint() == expected.checkpoint
            except (ViewsUnavailable, OSError):
                return False

        wait_until(caught_up, timeout, f"the views to reach {expected.checkpoint}", 0.05)
        snapshot = views_snapshot(self.views)
        assert snapshot.digest() == expected.digest(), (
            f"{snapshot.differences(expected)}\n{self.logs()}")
        return self.reader.live().generation


@pytest.fixture
def ledger(tmp_path: Path, cluster: RedisClusterNodes) -> Iterator[Ledger]:
    with RedisServer(tmp_path / "queues") as queues:
        book = Ledger(tmp_path, cluster, queues)
        try:
            yield book
        finally:
            for worker in book.workers:
                worker.stop()


def _list_all(api: ApiHarness) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get("/v1/claims?limit=200" + (f"&cursor={cursor}" if cursor else ""),
                       role="reader")
        assert page.status_code == 200, page.get_json()
        items += page.get_json()["items"]
        cursor = page.get_json().get("next")
        if not cursor:
            return items


@pytest.mark.timeout(300)
def test_views_on_a_redis_cluster_catch_up_rebuild_serve_reads_and_survive_a_node_restart(
    ledger: Ledger,
) -> None:
    cluster, api = ledger.cluster, ledger.api
    fill_store(api.store, CLAIMS, seed=5)
    # the partitions really are spread over the nodes
    homes = {cluster.node_of(f"cl:g1:{{p{p}}}:cp") for p in range(PARTITIONS)}
    assert len(homes) >= 2, homes
    ledger.start_worker()
    ledger.api.new_claim()  # asks for the views: the worker builds them on the cluster
    first = ledger.wait_for_fold()

    # catch-up after appends
    for _ in range(5):
        ledger.api.new_claim()
    assert ledger.wait_for_fold() == first

    # reads through the API
    expected = log_snapshot(api.store)
    visible = {k for k, v in expected.claims.items() if v["status"] != "voided"}
    listed = _list_all(api)
    assert {c["id"] for c in listed} == visible
    assert len(listed) == len(visible)
    one = listed[0]["id"]
    claim = api.get(f"/v1/claims/{one}", role="reader")
    assert claim.status_code == 200
    assert claim.get_json() == expected.claims[one]
    status = api.get("/v1/projections").get_json()
    assert (status["lag"], status["partitions"], status["redis_refusal"]) == (0, PARTITIONS, None)
    assert api.client.get("/readyz").get_json() == {
        "status": "ready", "checks": {"store": "ok", "redis": "ok"}}

    # a rebuild through the API, followed to its end
    started = api.client.post("/v1/projections/rebuild", headers=api.auth("admin"))
    assert started.status_code == 202, started.get_json()
    job = started.get_json()["job_id"]
    wait_until(lambda: api.get(f"/v1/jobs/{job}").get_json()["status"] == "finished", 60,
               "the rebuild to finish", 0.05)
    second = ledger.wait_for_fold()
    assert second > first

    # `claimledger redact` purges the text from every node (scripts one slot each)
    secret = "quokka-zanzibar-417"
    hidden = api.new_claim(statement=f"The {secret} said so.",
                           claimant={"name": secret}, tags=[secret])
    ledger.wait_for_fold()
    assert keys_holding(ledger.views, secret)
    event_id = api.store.read_claim(hidden)[0].id
    redacted = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "redact", event_id,
         "--reason", "Court order 14-223."],
        cwd=ROOT, env=ledger.env(), capture_output=True, text=True, timeout=120, check=False)
    assert redacted.returncode == 0, redacted.stdout + redacted.stderr
    assert keys_holding(ledger.views, secret) == []
    assert ledger.wait_for_fold() == second

    # a node restarts empty: its partitions (and maybe the pointer) are gone
    lost = cluster.node_of(f"cl:g{second}:{{p0}}:cp")
    cluster.restart_empty(lost)
    ledger.api.new_claim()
    third = ledger.wait_for_fold(timeout=90)
    assert third > second  # a new generation, never a reused number
    assert {c["id"] for c in _list_all(api)} == {
        k for k, v in log_snapshot(api.store).claims.items() if v["status"] != "voided"}
    print(f"\ncluster views: {CLAIMS} claims over {PARTITIONS} partitions on"
          f" {len(homes)} nodes; generations {first} -> {second} (rebuild) -> {third}"
          " (after a node restarted empty)")


def test_a_plain_url_to_a_cluster_node_is_refused_with_a_clear_line(
    tmp_path: Path, cluster: RedisClusterNodes
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
               LEDGER_REDIS_URL=cluster.node_url(0), LEDGER_DATA_DIR=str(tmp_path),
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "worker"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0
    assert "points at a Redis Cluster node" in done.stderr
    assert "redis+cluster://" in done.stderr
    api = ApiHarness.create(tmp_path, REDIS_URL=cluster.node_url(0))
    ready = api.client.get("/readyz").get_json()
    assert ready["status"] == "degraded"
    assert ready["checks"]["redis"] == "refused"
    assert "redis+cluster://" in ready["reasons"]["redis"]
    listing = api.get("/v1/claims", role="reader")
    assert listing.status_code == 503
    assert listing.get_json().get("refusal") in (None, "cluster")


def test_settings_want_a_standalone_redis_for_the_queues_beside_a_cluster() -> None:
    from api.settings import ConfigError, Settings

    cluster = "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"
    with pytest.raises(ConfigError, match="LEDGER_QUEUE_REDIS_URL"):
        Settings.from_env({"LEDGER_REDIS_URL": cluster})
    with pytest.raises(ConfigError, match="standalone"):
        Settings.from_env({"LEDGER_REDIS_URL": cluster, "LEDGER_QUEUE_REDIS_URL": cluster})
    with pytest.raises(ConfigError, match="host:port"):
        Settings.from_env({"LEDGER_REDIS_URL": "redis+cluster://127.0.0.1",
                           "LEDGER_QUEUE_REDIS_URL": "redis://127.0.0.1:6379/0"})
    settings = Settings.from_env({"LEDGER_REDIS_URL": cluster,
                                  "LEDGER_QUEUE_REDIS_URL": "redis://127.0.0.1:6380/0"})
    assert (settings.redis_url, settings.queues_url) == (cluster, "redis://127.0.0.1:6380/0")
    plain = Settings.from_env({"LEDGER_REDIS_URL": "redis://127.0.0.1:6379/1"})
    assert plain.queues_url == "redis://127.0.0.1:6379/1"
