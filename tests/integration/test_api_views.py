"""The API over the Redis views: a real redis-server and a real ``claimledger worker``.

The list, its filters and cursor, read-your-writes with ``min_position``, the fall back
to the log for a single claim, projections, rebuild and jobs, and what happens while
Redis hangs, dies and comes back empty.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from api.state import ledger_state
from ledger.fold import fold
from tests.support.api_harness import CLAIM, DENIAL, VERDICT, ApiHarness, assert_problem, body
from tests.support.paths import ROOT
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from tests.support.workers import FAST, WorkerProcess
from workers.config import text

PROBLEM_SLUG = "https://claimledger.local/problems/"


def _descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc), children before grandchildren."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill_worker_tree(worker: WorkerProcess) -> None:
    """SIGKILL a worker with its work horse, which RQ puts in a process group of its own."""
    process = worker.process
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGSTOP)  # no new horse while we look
        for pid in _descendants(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    worker.kill()


@dataclass
class Views:
    """An app on its own SQLite file, a private Redis and one worker process."""

    api: ApiHarness
    server: RedisServer
    directory: Path
    worker: WorkerProcess | None = None

    def worker_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update(FAST, LEDGER_VIEWS_LINGER="0.3")  # a stopping worker waits for its job
        with self.api.app.app_context():
            database_url = ledger_state().settings.database_url
        env.update(
            LEDGER_DATABASE_URL=database_url, LEDGER_REDIS_URL=self.server.url,
            LEDGER_DATA_DIR=str(self.directory), PYTHONPATH=str(ROOT),
        )
        return env

    def start_worker(self) -> None:
        self.worker = WorkerProcess(self.worker_env(), self.directory / "worker.log").start()

    def stop_worker(self) -> None:
        """Stop the worker as an operator would (SIGTERM: it finishes its job first)."""
        worker, self.worker = self.worker, None
        if worker is None or worker.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGTERM)
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_worker_tree(worker)
        worker.kill()  # the scheduler process, if it lingers

    def page(self, role: str = "reader", **query: Any) -> TestResponse:
        return self.api.client.get("/v1/claims", query_string=query, headers=self.api.auth(role))

    def claim(self, claim_id: str, **query: Any) -> TestResponse:
        return self.api.client.get(f"/v1/claims/{claim_id}", query_string=query,
                                   headers=self.api.auth("reader"))

    def record(self, **changes: Any) -> dict[str, Any]:
        """Record a claim; the 201 body (the ClaimRecorded envelope)."""
        response = self.api.post("/v1/claims", body(CLAIM, **changes))
        assert response.status_code == 201, response.get_json()
        event: dict[str, Any] = response.get_json()
        return event

    def write(self, claim_id: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self.api.post(f"/v1/claims/{claim_id}/{kind}", payload)
        assert response.status_code == 201, response.get_json()
        event: dict[str, Any] = response.get_json()
        return event

    def head(self) -> int:
        return self.api.store.head()

    def visible(self, **query: Any) -> list[dict[str, Any]]:
        """Every claim the list pages through (waiting for the head first)."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.page(min_position=self.head(), limit=200, cursor=cursor, **query)
            assert page.status_code == 200, page.get_json()
            items += page.get_json()["items"]
            cursor = page.get_json()["next"]
            if cursor is None:
                return items

    def wait_for_views(self, timeout: float = 30) -> None:
        """Wait until the list answers at the log's head."""

        def ready() -> bool:
            return self.page(min_position=self.head(), limit=1).status_code == 200

        try:
            wait_until(ready, timeout, f"the views to reach {self.head()}", every=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnosis()}") from None

    def diagnosis(self) -> str:
        """What the views, the queues and the worker say (for failure messages)."""
        status = self.api.get("/v1/projections").get_json()
        redis = self.server.client()
        keys = {text(k): text(redis.get(k)) if text(redis.type(k)) == "string" else "…"
                for k in redis.scan_iter("cl:*")}
        log = self.directory / "worker.log"
        tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no worker log)"
        return f"projections: {status}\nkeys: {keys}\nworker log:\n{tail}"


def _views(directory: Path, server: RedisServer) -> Views:
    views = Views(ApiHarness.create(directory, REDIS_URL=server.url), server, directory)
    views.start_worker()
    try:
        views.wait_for_views()  # the worker's first tick builds views of the empty log
    except BaseException:
        views.stop_worker()  # never leave a worker behind
        raise
    return views


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    """One app, Redis and worker for the module's tests (they do not need an empty log)."""
    directory = tmp_path_factory.mktemp("api-views")
    with RedisServer(directory / "redis") as server:
        built = _views(directory, server)
        try:
            yield built
        finally:
            built.stop_worker()


@pytest.fixture
def story(views: Views) -> dict[str, str]:
    """Five claims of one test's own, told apart by a unique tag; ids by name."""
    tag = f"t{time.monotonic_ns()}"
    claims = {
        "kerry": views.record(tags=[tag, "iran"]),
        "sherman": views.record(tags=[tag], claimant={"name": "Wendy  SHERMAN"},
                                appearance={"outlet": "Fars News Agency"}),
        "jones": views.record(tags=[tag, "iraq"], appearance={"outlet": "Free Beacon"}),
        "bushehr": views.record(tags=[tag], claimant={"name": "Rosatom"}),
        "lying": views.record(tags=[tag, "iran"]),
    }
    ids = {name: event["claim_id"] for name, event in claims.items()}
    views.write(ids["kerry"], "denials", DENIAL)
    views.write(ids["kerry"], "verdicts", VERDICT)
    views.write(ids["jones"], "corroborations", {"by": {"name": "The New York Times"}})
    views.write(ids["bushehr"], "corrections", {
        "target_event_id": claims["bushehr"]["id"], "kind": "void", "reason": "Logged twice.",
    })
    ids["tag"] = tag
    return ids


def test_the_list_shows_writes_at_their_position_newest_update_first(views: Views) -> None:
    first = views.record(tags=["fresh"])
    second = views.record(tags=["fresh"])
    denial = views.write(first["claim_id"], "denials", DENIAL)
    response = views.page(min_position=denial["position"], tag="fresh")
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Ledger-Source"] == "views"
    page = response.get_json()
    ids = [item["id"] for item in page["items"]]
    assert ids[:2] == [first["claim_id"], second["claim_id"]]  # the denial updated first last
    assert page["items"][0]["status"] == "denied"
    assert page["items"][0] == fold(views.api.store.read_claim(first["claim_id"]))
    stamps = [item["updated_at"] for item in page["items"]]
    assert stamps == sorted(stamps, reverse=True)


def test_a_claim_is_read_from_the_views_at_a_position_with_its_version_as_etag(
    views: Views,
) -> None:
    claim_id = views.record()["claim_id"]
    denial = views.write(claim_id, "denials", DENIAL)
    response = views.claim(claim_id, min_position=denial["position"])
    assert response.status_code == 200
    assert response.headers["X-Ledger-Source"] == "views"
    assert response.headers["ETag"] == '"2"'
    assert response.get_json() == fold(views.api.store.read_claim(claim_id))
    unchanged = views.api.client.get(
        f"/v1/claims/{claim_id}", headers={**views.api.auth("reader"), "If-None-Match": '"2"'}
    )
    assert unchanged.status_code == 304
    assert unchanged.headers["X-Ledger-Source"] == "views"
    # as_of and valid_at replay the log; min_position is ignored there (the log has it all)
    replayed = views.claim(claim_id, as_of=denial["recorded_at"], min_position=1)
    assert replayed.headers["X-Ledger-Source"] == "log"
    assert replayed.get_json()["status"] == "denied"
    assert "ETag" not in replayed.headers


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({}, {"kerry", "sherman", "jones", "lying"}),
        ({"status": "unverified"}, {"sherman", "lying"}),
        ({"status": "corroborated"}, {"jones"}),
        ({"status": "voided"}, {"bushehr"}),
        ({"verdict": "mostly-true"}, {"kerry"}),
        ({"claimant": "wendy sherman"}, {"sherman"}),
        ({"outlet": "  free BEACON "}, {"jones"}),
        ({"tag": "iran", "status": "unverified"}, {"lying"}),
        ({"claimant": "rosatom"}, set()),  # voided: hidden unless status=voided
    ],
)
def test_filters_combine_and_voided_claims_show_only_when_asked_for(
    views: Views, story: dict[str, str], filters: dict[str, str], names: set[str]
) -> None:
    ours = {claim_id for name, claim_id in story.items() if name != "tag"}
    got = {item["id"] for item in views.visible(**filters)} & ours
    assert got == {story[name] for name in names}
    if "tag" not in filters:  # the same through this story's own tag
        assert {item["id"] for item in views.visible(tag=story["tag"], **filters)} == got


def test_updated_after_and_the_cursor_page_through_every_claim_once(
    views: Views, story: dict[str, str]
) -> None:
    everything = views.visible(tag=story["tag"])
    assert len(everything) == 4
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query: dict[str, Any] = {"tag": story["tag"], "limit": 1}
        if cursor:
            query["cursor"] = cursor
        page = views.page(**query).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [item["id"] for item in everything]
    oldest = everything[-1]["updated_at"]
    newer = views.visible(tag=story["tag"], updated_after=oldest)
    assert [item["id"] for item in newer] == [item["id"] for item in everything[:-1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "MjAxNA"}, "cursor"),
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"updated_after": "2014-09-15T12:00:00"}, "updated_after"),
        ({"status": "false"}, "status"),
        ({"min_position": -1}, "min_position"),
        ({"min_position": 10**12}, "min_position"),
    ],
)
def test_bad_list_arguments_are_422_problems_naming_the_argument(
    views: Views, query: dict[str, Any], field: str
) -> None:
    assert_problem(views.page(**query), 422, field)


def test_views_behind_min_position_answer_503_for_the_list_and_the_log_for_a_claim(
    views: Views,
) -> None:
    views.stop_worker()
    try:
        claim_id = views.record()["claim_id"]
        position = views.write(claim_id, "denials", DENIAL)["position"]
        started = time.monotonic()
        behind = views.page(min_position=position)
        assert 2.0 <= time.monotonic() - started < 6.0  # the bounded wait, then the answer
        problem = assert_problem(behind, 503)
        assert problem["type"] == PROBLEM_SLUG + "views-behind"
        assert behind.headers["Retry-After"] == "1"
        response = views.claim(claim_id, min_position=position)
        assert response.status_code == 200
        assert response.headers["X-Ledger-Source"] == "log"
        assert response.headers["ETag"] == '"2"'
        assert response.get_json()["status"] == "denied"
    finally:
        views.start_worker()
    views.wait_for_views()
    assert views.claim(claim_id, min_position=position).headers["X-Ledger-Source"] == "views"


def test_projections_report_head_checkpoint_lag_and_queues(views: Views) -> None:
    views.record()
    views.wait_for_views()
    for role in ("reader", "editor", "auditor", "admin"):
        response = views.api.get("/v1/projections", role=role)
        assert response.status_code == 200, role
    status = response.get_json()
    assert status["head"] == views.head()
    assert status["checkpoint"] == status["head"]
    assert status["lag"] == 0
    assert isinstance(status["generation"], int)
    assert status["partitions"] == status["configured_partitions"] == 1
    assert status["workers"] >= 1
    assert {"claimledger:queued", "claimledger-rebuild:queued"} <= set(status["queues"])
    assert_problem(views.api.get("/v1/projections", role=None), 401)


def test_a_rebuild_through_the_api_reports_progress_until_it_switches(views: Views) -> None:
    views.record()
    views.wait_for_views()
    before = views.api.get("/v1/projections").get_json()["generation"]
    started = views.api.client.post("/v1/projections/rebuild", headers=views.api.auth("admin"))
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_id"]
    assert started.headers["Location"] == f"/v1/jobs/{job_id}"

    def finished() -> dict[str, Any] | None:
        info: dict[str, Any] = views.api.get(f"/v1/jobs/{job_id}").get_json()
        assert info["status"] not in ("failed", "stopped", "canceled"), info
        return info if info["status"] == "finished" else None

    info = wait_until(finished, 30, f"rebuild {job_id}", every=0.05)
    assert info["kind"] == "rebuild"
    assert info["progress"]["percent"] == 100.0
    assert info["progress"]["processed"] == info["progress"]["head"]
    assert info["meta"]["generation"] > before
    assert info["ended_at"] is not None
    status = views.api.get("/v1/projections").get_json()
    assert status["generation"] == info["meta"]["generation"]
    assert views.page(min_position=views.head()).status_code == 200


def test_the_new_endpoints_check_roles(views: Views) -> None:
    rebuild, job = "/v1/projections/rebuild", "/v1/jobs/cl-rebuild-0123456789abcdef"
    for role in ("reader", "editor", "auditor"):
        headers = views.api.auth(role)
        assert_problem(views.api.client.post(rebuild, headers=headers), 403)
        assert_problem(views.api.client.get(job, headers=headers), 403)
    for path in ("/v1/claims", "/v1/projections", job):
        assert_problem(views.api.client.get(path), 401)
    assert_problem(views.api.client.post(rebuild), 401)
    missing = assert_problem(views.api.get(job, role="admin"), 404)
    assert missing["type"] == PROBLEM_SLUG + "job-not-found"
    assert_problem(views.api.get("/v1/jobs/someone-elses-job", role="admin"), 404)


def test_the_openapi_document_describes_the_views_endpoints(tmp_path: Path) -> None:
    spec = ApiHarness.create(tmp_path).get("/openapi.json", role=None).get_json()
    listing = spec["paths"]["/v1/claims"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert set(parameters) == {"status", "verdict", "claimant", "outlet", "tag",
                               "updated_after", "linked_to", "limit", "cursor", "min_position",
                               "q"}
    assert parameters["limit"]["schema"]["maximum"] == 200
    assert {"200", "422", "503"} <= set(listing["responses"])
    assert "Retry-After" in listing["responses"]["503"]["headers"]
    claim = spec["paths"]["/v1/claims/{claim_id}"]["get"]
    assert "min_position" in {p["name"] for p in claim["parameters"]}
    assert "X-Ledger-Source" in claim["responses"]["200"]["headers"]
    for method, path in (("get", "/v1/projections"), ("post", "/v1/projections/rebuild"),
                         ("get", "/v1/jobs/{job_id}")):
        assert "503" in spec["paths"][path][method]["responses"]
    assert spec["paths"]["/v1/projections/rebuild"]["post"]["responses"]["202"]
    assert {"ClaimList", "Projections", "Job", "Rebuild"} <= set(spec["components"]["schemas"])


# --- Redis hangs, dies, and comes back ---------------------------------------------------
@pytest.fixture
def outage(tmp_path: Path) -> Iterator[Views]:
    """An app, Redis and worker of this test's own: the test stops Redis."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        built = _views(tmp_path, server)
        try:
            yield built
        finally:
            built.stop_worker()
    finally:
        if server.process is not None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def _appends_work(views: Views, count: int) -> set[str]:
    """Record ``count`` claims (each a 201, see ``Views.record``); their ids.

    How long they take while Redis is hung or dead is measured, not asserted:
    ``python -m bench.run --only outage`` (bench/outage.py, docs/benchmarks.md).
    """
    return {views.record(tags=["outage"])["claim_id"] for _ in range(count)}


def _views_answer_503_and_claims_come_from_the_log(views: Views, claim_id: str) -> None:
    response = views.claim(claim_id)
    assert response.status_code == 200
    assert response.headers["X-Ledger-Source"] == "log"
    assert response.get_json() == fold(views.api.store.read_claim(claim_id))
    problem = assert_problem(views.page(), 503)
    assert problem["type"] == PROBLEM_SLUG + "views-unavailable"
    assert int(views.page().headers["Retry-After"]) >= 1
    assert_problem(views.api.get("/v1/projections"), 503)
    assert_problem(views.api.client.post("/v1/projections/rebuild",
                                         headers=views.api.auth("admin")), 503)
    assert_problem(views.api.get("/v1/jobs/cl-rebuild-0123456789abcdef"), 503)
    ready = views.api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"store": "ok", "redis": "unavailable"}


def test_without_redis_writes_and_claims_work_and_the_views_catch_up_on_their_own(
    outage: Views,
) -> None:
    views, server = outage, outage.server
    before = _appends_work(views, 2)
    views.wait_for_views()
    assert server.process is not None

    # hung: connections open but nothing answers (socket timeouts, not refusals)
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        hung = _appends_work(views, 3)
        _views_answer_503_and_claims_come_from_the_log(views, next(iter(hung)))
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    # back with its data: the views catch up with no request or operator involved
    head = views.head()
    wait_until(lambda: views.page(min_position=head).status_code == 200, 30,
               "the views to catch up after Redis came back")
    assert {item["id"] for item in views.visible(tag="outage")} == before | hung

    # dead: the process is gone (connections refused), then a new empty Redis on its port
    port = server.port
    server.stop()
    dead = _appends_work(views, 3)
    _views_answer_503_and_claims_come_from_the_log(views, next(iter(dead)))
    server.start(port=port)
    head = views.head()
    try:
        wait_until(lambda: views.page(min_position=head).status_code == 200, 60,
                   "the views to be rebuilt in the new Redis")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{views.diagnosis()}") from None
    assert views.worker is not None
    assert views.worker.process is not None
    assert views.worker.process.poll() is None, "the worker outlives a Redis outage"
    assert {item["id"] for item in views.visible(tag="outage")} == before | hung | dead
    assert views.api.client.get("/readyz").get_json()["status"] == "ready"
