"""Search through the API with a real worker keeping the index: ``GET /v1/claims?q=``,
``GET /v1/claims/similar``, ``similar`` in a new claim's 201, unknown parameters, the
index's lag in ``/v1/projections`` and read-your-writes with ``min_position``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_api_views import Views, _views
from tests.support.api_harness import CLAIM, DENIAL, assert_problem, body
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Views]:
    """One app, Redis and worker; the worker's tick builds the search index."""
    directory = tmp_path_factory.mktemp("api-search")
    with RedisServer(directory / "redis") as server:
        built = _views(directory, server)
        try:
            wait_until(lambda: (built.api.get("/v1/projections").get_json() or {})
                       .get("search", {}).get("available"), 60, "the search index")
            yield built
        finally:
            built.stop_worker()


def search(views: Views, **query: Any) -> dict[str, Any]:
    response = views.page(min_position=views.head(), **query)
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Ledger-Source"] == "search"
    found: dict[str, Any] = response.get_json()
    return found


def test_search_finds_what_was_just_written_ranked_with_snippets(views: Views) -> None:
    tag = f"t{time.monotonic_ns()}"
    kerry = views.record(tags=[tag])["claim_id"]
    other = views.record(tags=[tag], statement="Rosatom will build two reactors at Bushehr.",
                         claimant={"name": "Rosatom"})["claim_id"]
    views.write(kerry, "denials", DENIAL)
    found = search(views, q="kery Zarif", tag=tag)
    assert found["items"][0]["id"] == kerry  # the other claim quotes Zarif only
    assert "<mark>" in found["items"][0]["snippet"]
    assert search(views, q="Bûshehr reactors", tag=tag)["items"][0]["id"] == other
    assert search(views, q="Kerry", tag=tag, status="denied")["items"][0]["id"] == kerry
    assert search(views, q="Kerry", tag=tag, status="unverified")["items"] == []
    first = search(views, q="iran OR bushehr OR kerry", tag=tag, limit=1)
    second = search(views, q="iran OR bushehr OR kerry", tag=tag, limit=1, cursor=first["next"])
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {kerry, other}
    assert second["next"] is None


def test_unknown_query_parameters_are_a_422(views: Views) -> None:
    response = views.page(qq="Kerry")
    assert_problem(response, 422)
    assert "qq" in response.get_json()["errors"]
    assert_problem(views.api.client.get("/v1/claims/similar?statement=x&top=3",
                                        headers=views.api.auth("reader")), 422)


def test_a_near_duplicate_shows_the_existing_claim_and_a_new_one_none(views: Views) -> None:
    statement = "Tehran's mayor said the metro's line 9 will open before the Nowruz holiday."
    first = views.record(statement=statement)
    wait_until(lambda: search(views, q="metro line nowruz")["items"], 30, "the index")
    again = views.api.post("/v1/claims", body(
        CLAIM, statement="Tehran mayor says metro line 9 will open before Nowruz holiday"))
    assert again.status_code == 201
    similar = again.get_json()["similar"]
    assert [s["claim"]["id"] for s in similar][:1] == [first["claim_id"]]
    assert similar[0]["score"] >= 0.45
    fresh = views.api.post("/v1/claims", body(
        CLAIM, statement="Saffron exports from Mashhad doubled in the spring of 2014."))
    assert fresh.status_code == 201
    assert fresh.get_json()["similar"] == []
    near = views.api.client.get("/v1/claims/similar", query_string={
        "statement": "the mayor of Tehran: metro line 9 opens before nowruz",
        "min_position": views.head()}, headers=views.api.auth("reader"))
    assert near.status_code == 200, near.get_json()
    assert near.get_json()["items"][0]["claim"]["id"] == first["claim_id"]


def test_projections_show_the_index_and_its_lag(views: Views) -> None:
    views.record(statement="A claim to move the head.")
    wait_until(lambda: views.api.get("/v1/projections").get_json()["search"]["lag"] == 0,
               30, "the index to catch up")
    status = views.api.get("/v1/projections").get_json()["search"]
    assert status["available"] is True
    assert status["checkpoint"] == views.head()


def test_the_desk_warns_of_a_near_duplicate_before_the_claim_is_recorded(views: Views) -> None:
    from tests.integration.test_desk_pages import Desk

    statement = "Isfahan's governor said the Zayandeh Rud will flow again through the city in May."
    existing = views.record(statement=statement)["claim_id"]
    wait_until(lambda: search(views, q="Zayandeh governor")["items"], 30, "the index")
    desk = Desk(views.api)
    desk.client = views.api.app.test_client()
    desk.sign_in("editor")
    form = desk.get("/desk/new").get_data(as_text=True)
    assert 'id="similar-claims"' in form
    assert 'data-similar-url="/desk/similar"' in form
    near = desk.get("/desk/similar?statement=" + "Governor of Isfahan: the Zayandeh Rud river"
                    " will flow through the city again in May")
    assert near.status_code == 200
    assert f"/desk/claims/{existing}" in near.get_data(as_text=True)
    fresh = desk.get("/desk/similar?statement=Pistachio harvests in Kerman fell by a third")
    assert "No similar claim recorded." in fresh.get_data(as_text=True)
    # without JavaScript: a refused form shows the warning for what was typed
    refused = desk.post("/desk/new", {"statement": statement, "claimant.name": "",
                                      "appearance.outlet": "IRNA"})
    assert refused.status_code == 422
    assert f"/desk/claims/{existing}" in refused.get_data(as_text=True)
