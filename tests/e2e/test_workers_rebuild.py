"""Zero-downtime rebuild with a real worker while a reader hammers the list."""

from __future__ import annotations

import threading
from typing import Any

from tests.support.waiting import wait_until
from tests.support.workers import (  # noqa: F401 (fixtures)
    Deployment,
    deployment_fixture,
    redis_server_fixture,
    seeded_log_fixture,
)
from workers.coordination import job_info, read_pointer, start_rebuild
from workers.digest import Snapshot
from workers.indexes import member
from workers.views import ViewReader


class Hammer(threading.Thread):
    """Pages through the whole list (and a filtered list) again and again."""

    def __init__(self, deployment: Deployment, expected: Snapshot) -> None:
        super().__init__(daemon=True)
        self.reader = ViewReader(deployment.redis())
        self.expected = expected
        self.visible = {k for k, v in expected.claims.items() if v["status"] != "voided"}
        self.disputed = {k for k, v in expected.claims.items() if v["status"] == "disputed"}
        self.stop = threading.Event()
        self.passes = 0
        self.pages = 0
        self.generations: set[int] = set()
        self.problems: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.generations.add(self.reader.live().generation)
                self._pass({}, self.visible, 100)
                self._pass({"status": "disputed"}, self.disputed, 37)
                self.passes += 1
            except Exception as exc:  # every error is a failure of the test
                self.problems.append(f"{type(exc).__name__}: {exc}")
                return

    def _pass(self, filters: dict[str, Any], wanted: set[str], limit: int) -> None:
        seen: list[str] = []
        cursor = None
        previous = "~"
        while True:
            items, cursor = self.reader.list_claims(limit=limit, cursor=cursor, **filters)
            self.pages += 1
            for item in items:
                if item != self.expected.claims.get(item["id"]):
                    self.problems.append(f"claim {item['id']} differs from the fold")
                if not member(item) < previous:
                    self.problems.append("the list is not newest-first")
                previous = member(item)
                seen.append(item["id"])
            if cursor is None:
                break
        if len(seen) != len(set(seen)) or set(seen) != wanted:
            self.problems.append(
                f"a pass with {filters} saw {len(seen)} items ({len(set(seen))} distinct),"
                f" expected {len(wanted)}"
            )


def test_a_rebuild_switches_generations_while_a_hammering_reader_never_sees_an_error(
    deployment: Deployment,
) -> None:
    deployment.start_worker()
    expected = deployment.wait_for_views(timeout=60)
    client = deployment.redis()
    before = read_pointer(client, deployment.config.keys)
    assert before is not None
    hammer = Hammer(deployment, expected)
    hammer.start()
    wait_until(lambda: hammer.passes >= 1 or hammer.problems, 30, "a first reader pass")
    passes_before = hammer.passes
    result = deployment.cli("rebuild", timeout=120)
    assert result.returncode == 0, result.stderr + deployment.worker_logs()[-3000:]
    assert f"generation {before.generation + 1} is live" in result.stdout
    passes_during = hammer.passes - passes_before
    wait_until(lambda: hammer.passes >= passes_before + passes_during + 1 or hammer.problems,
               30, "a reader pass after the switch")
    hammer.stop.set()
    hammer.join(timeout=30)
    assert hammer.problems == []
    assert {before.generation, before.generation + 1} <= hammer.generations
    deployment.wait_for_views(timeout=30)
    old_prefix = deployment.config.keys.generation_prefix(before.generation)
    wait_until(lambda: not any(True for _ in client.scan_iter(match=old_prefix + "*")), 30,
               "the old generation to be deleted")
    print(f"\nreader: {hammer.passes} passes ({passes_during} during the rebuild),"
          f" {hammer.pages} pages, no errors;"
          f" generations seen {sorted(hammer.generations)}")


def test_rebuild_progress_is_visible_in_the_job_meta(deployment: Deployment) -> None:
    deployment.start_worker()
    deployment.wait_for_views(timeout=60)
    client = deployment.redis()
    job_id = start_rebuild(client, deployment.config, reason="test")
    assert start_rebuild(client, deployment.config, reason="again") == job_id  # coalesced
    seen: list[float] = []

    def finished() -> bool:
        info = job_info(client, job_id)
        assert info is not None
        seen.append(info["progress"]["percent"] or 0.0)
        return bool(info["status"] == "finished")

    wait_until(finished, 60, "the rebuild job to finish", every=0.01)
    info = job_info(client, job_id)
    assert info is not None
    assert info["kind"] == "rebuild"
    assert info["progress"]["percent"] == 100.0
    assert info["progress"]["processed"] == info["progress"]["head"] == deployment.store().head()
    assert seen == sorted(seen)
    status = deployment.cli("status")
    assert status.returncode == 0, status.stderr
    assert "lag 0" in status.stdout
