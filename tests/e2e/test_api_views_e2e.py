"""The views through a real ``claimledger serve`` (two gunicorn workers), a private
redis-server and a real ``claimledger worker``: the example story imported over HTTP is
listed at once with ``min_position``, a voided claim leaves the list, a rebuild switches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.paths import EXAMPLE
from tests.support.server import Server, serving_with_views
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A fresh ledger (so the list holds only the story) with Redis and a worker."""
    with serving_with_views(tmp_path_factory.mktemp("views-e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def story(system: Server) -> dict[str, Any]:
    """The example seed imported over HTTP: ``{count, first_position, last_position, claims}``."""
    with system.client("editor") as editor:
        response = editor.post(
            "/v1/imports", content=EXAMPLE.read_bytes(),
            headers={"Content-Type": "application/x-ndjson"},
        )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def listed(system: Server, **params: Any) -> dict[str, Any]:
    with system.client("reader") as reader:
        response = reader.get("/v1/claims", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["x-ledger-source"] == "views"
    page: dict[str, Any] = response.json()
    return page


def test_the_imported_story_is_listed_at_its_last_position(
    system: Server, story: dict[str, Any]
) -> None:
    page = listed(system, min_position=story["last_position"])
    ids = {claim["id"] for claim in page["items"]}
    assert ids == set(story["claims"].values())  # six claims, none of them voided
    assert len(ids) == 6
    assert page["next"] is None
    assert listed(system, min_position=story["last_position"], status="voided")["items"] == []
    stamps = [claim["updated_at"] for claim in page["items"]]
    assert stamps == sorted(stamps, reverse=True)
    kerry = story["claims"]["kerry-zarif"]
    assert [c["id"] for c in listed(system, status="disputed")["items"]] == [kerry]
    assert [c["id"] for c in listed(system, verdict="mixed")["items"]] == [kerry]
    lines = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    khamenei = {line["claim_ref"] for line in lines if line["type"] == "ClaimRecorded"
                and line["data"]["claimant"]["name"] == "Ali Khamenei"}
    assert {c["id"] for c in listed(system, claimant="ALI  khamenei", limit=200)["items"]} == {
        story["claims"][ref] for ref in khamenei
    }


def test_a_claim_read_at_a_position_comes_from_the_views_and_matches_the_log(
    system: Server, story: dict[str, Any]
) -> None:
    kerry = story["claims"]["kerry-zarif"]
    with system.client("reader") as reader:
        views = reader.get(f"/v1/claims/{kerry}", params={"min_position": story["last_position"]})
        history = reader.get(f"/v1/claims/{kerry}/history").json()["events"]
        as_of = reader.get(f"/v1/claims/{kerry}", params={"as_of": history[-1]["recorded_at"]})
    assert views.status_code == 200
    assert views.headers["x-ledger-source"] == "views"
    assert views.headers["etag"] == f'"{history[-1]["version"]}"'
    assert as_of.headers["x-ledger-source"] == "log"
    assert views.json() == as_of.json()


def test_a_voided_claim_leaves_the_list_and_shows_under_status_voided(
    system: Server, story: dict[str, Any]
) -> None:
    bushehr = story["claims"]["bushehr-plants"]
    with system.client("reader") as reader:
        recorded = reader.get(f"/v1/claims/{bushehr}/history").json()["events"][0]
    with system.client("editor") as editor:
        void = editor.post(f"/v1/claims/{bushehr}/corrections", json={
            "target_event_id": recorded["id"], "kind": "void", "reason": "Not a claim of the day.",
        })
    assert void.status_code == 201, void.text
    position = void.json()["position"]
    visible = {claim["id"] for claim in listed(system, min_position=position)["items"]}
    assert visible == set(story["claims"].values()) - {bushehr}
    voided = listed(system, min_position=position, status="voided")["items"]
    assert [claim["id"] for claim in voided] == [bushehr]
    assert voided[0]["status"] == "voided"


def test_projections_and_a_rebuild_through_http(system: Server, story: dict[str, Any]) -> None:
    with system.client("reader") as reader:
        status = reader.get("/v1/projections").json()
    assert status["head"] >= story["last_position"]
    assert status["workers"] >= 1
    with system.client("admin") as admin:
        started = admin.post("/v1/projections/rebuild")
        assert started.status_code == 202, started.text
        job = started.headers["location"]

        def finished() -> dict[str, Any] | None:
            info: dict[str, Any] = admin.get(job).json()
            assert info["status"] not in ("failed", "stopped", "canceled"), info
            return info if info["status"] == "finished" else None

        info = wait_until(finished, 60, f"the rebuild {job}")
    assert info["meta"]["generation"] > status["generation"]
    assert info["progress"]["percent"] == 100.0
    with system.client("reader") as reader:
        after = reader.get("/v1/projections").json()
    assert after["generation"] == info["meta"]["generation"]
    assert len(listed(system, min_position=after["head"])["items"]) >= 5
