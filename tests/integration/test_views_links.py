"""Links in the views (a real redis-server and ``claimledger worker``, four partitions):
each claim shows its own links and the other claims' links to it, ``linked_to=`` lists
both ways, voids take a link off both claims, and a rebuild gives the same."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_api_views import Views
from tests.support.api_harness import ApiHarness, assert_problem
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until
from workers.config import partition_of

PARTITIONS = 4


class LinkedViews(Views):
    """``Views`` with the app and its worker on four partitions."""

    def worker_env(self) -> dict[str, str]:
        return {**super().worker_env(), "LEDGER_PARTITIONS": str(PARTITIONS)}


@contextmanager
def linked_views(directory: Path, server: RedisServer, **config: Any) -> Iterator[LinkedViews]:
    """An app on ``server`` with its worker running and the views built."""
    api = ApiHarness.create(directory, REDIS_URL=server.url, PARTITIONS=PARTITIONS, **config)
    built = LinkedViews(api, server, directory)
    built.start_worker()
    try:
        built.wait_for_views()
        yield built
    finally:
        built.stop_worker()


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedViews]:
    directory = tmp_path_factory.mktemp("links-views")
    with RedisServer(directory / "redis") as server, linked_views(directory, server) as built:
        yield built


def claims_in_other_partitions(views: Views, count: int) -> list[str]:
    """Record claims until ``count`` of them sit in distinct partitions."""
    found: dict[int, str] = {}
    while len(found) < count:
        claim_id = views.record(tags=[f"t{time.monotonic_ns()}"])["claim_id"]
        found.setdefault(partition_of(claim_id, PARTITIONS), claim_id)
    return list(found.values())[:count]


def link(views: Views, source: str, target: str, kind: str = "same-as") -> dict[str, Any]:
    return views.write(source, "links", {"target_claim_id": target, "kind": kind})


def at_head(views: Views, claim_id: str) -> dict[str, Any]:
    views.wait_for_views()  # a loaded machine may take longer than min_position's 2 s
    response = views.claim(claim_id, min_position=views.head())
    assert response.headers["X-Ledger-Source"] == "views"
    state: dict[str, Any] = response.get_json()
    return state


def inbound(views: Views, claim_id: str) -> list[tuple[str, str, str]]:
    return [(i["claim_id"], i["kind"], i["event_id"])
            for i in at_head(views, claim_id).get("linked_from", [])]


def linked_to(views: Views, claim_id: str, **query: Any) -> list[str]:
    views.wait_for_views()
    return [item["id"] for item in views.visible(linked_to=claim_id, **query)]


def test_a_link_shows_on_both_claims_across_partitions_and_a_void_takes_it_off_both(
    views: LinkedViews,
) -> None:
    assert views.api.get("/v1/projections").get_json()["partitions"] == PARTITIONS
    kerry, sherman, jones = claims_in_other_partitions(views, 3)
    restates = link(views, sherman, kerry, "restates")
    answers = link(views, jones, kerry, "responds-to")
    assert inbound(views, kerry) == [(sherman, "restates", restates["id"]),
                                     (jones, "responds-to", answers["id"])]
    state = at_head(views, sherman)
    assert [(x["target_claim_id"], x["kind"]) for x in state["links"]] == [(kerry, "restates")]
    assert "linked_from" not in state
    assert set(linked_to(views, kerry)) == {sherman, jones}
    assert linked_to(views, sherman) == [kerry]
    assert linked_to(views, jones, status="voided") == []

    # the ETag follows the links to a claim, though its version does not move
    tag = views.claim(kerry).headers["ETag"]
    views.write(jones, "corrections", {"target_event_id": answers["id"], "kind": "correction",
                                       "changes": {"kind": "contradicts"}, "reason": "Denies."})
    assert inbound(views, kerry)[1][1] == "contradicts"
    views.write(sherman, "corrections", {"target_event_id": restates["id"], "kind": "void",
                                         "reason": "Another claim."})
    assert inbound(views, kerry) == [(jones, "contradicts", answers["id"])]
    assert at_head(views, sherman)["links"] == []
    assert linked_to(views, kerry) == [jones]
    assert linked_to(views, sherman) == []
    assert views.claim(kerry).headers["ETag"] != tag
    assert views.claim(kerry).headers["ETag"].startswith('"1-l')


def test_a_voided_claim_gives_no_links_and_is_listed_only_when_asked_for(
    views: LinkedViews,
) -> None:
    kept, dropped = claims_in_other_partitions(views, 2)
    first = views.api.store.read_claim(dropped)[0]
    link(views, dropped, kept, "contradicts")
    assert [c for c, _, _ in inbound(views, kept)] == [dropped]
    views.write(dropped, "corrections", {"target_event_id": first.id, "kind": "void",
                                         "reason": "Logged in error."})
    assert inbound(views, kept) == []
    assert linked_to(views, dropped) == []  # a voided claim links nowhere


def test_linked_to_pages_newest_update_first_and_checks_its_argument(views: LinkedViews) -> None:
    hub, *spokes = claims_in_other_partitions(views, 4)
    for spoke in spokes:
        link(views, spoke, hub, "restates")
    everything = linked_to(views, hub)
    assert set(everything) == set(spokes)
    seen, cursor = [], None
    for _ in range(5):
        query: dict[str, Any] = {"linked_to": hub, "limit": 2, "min_position": views.head()}
        if cursor:
            query["cursor"] = cursor
        page = views.page(**query).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == everything
    assert_problem(views.page(linked_to="not-a-claim"), 422, "linked_to")
    assert views.visible(linked_to="00000000-0000-4000-8000-000000000000") == []


def test_a_rebuild_gives_the_same_links_both_ways(views: LinkedViews) -> None:
    a, b, c = claims_in_other_partitions(views, 3)
    link(views, a, b)
    gone = link(views, c, b, "responds-to")
    link(views, b, c, "contradicts")
    views.write(c, "corrections", {"target_event_id": gone["id"], "kind": "void", "reason": "x"})
    before = {claim: at_head(views, claim) for claim in (a, b, c)}
    generation = views.api.get("/v1/projections").get_json()["generation"]
    started = views.api.client.post("/v1/projections/rebuild", headers=views.api.auth("admin"))
    assert started.status_code == 202, started.get_json()

    def switched() -> bool:
        status = views.api.get("/v1/projections").get_json()
        return bool(status["generation"] > generation and not status["rebuilding"])

    wait_until(switched, 60, "the rebuild to switch", every=0.1)
    after = {claim: at_head(views, claim) for claim in (a, b, c)}
    assert after == before
    assert [x[0] for x in inbound(views, b)] == [a]
    assert [x[0] for x in inbound(views, c)] == [b]


def test_without_the_views_a_claim_answers_links_both_ways_from_the_log(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path)
    first, second = api.new_claim(), api.new_claim()
    made = api.post(f"/v1/claims/{second}/links", {"target_claim_id": first,
                                                   "kind": "same-as"}).get_json()
    response = api.get(f"/v1/claims/{first}")
    assert response.headers["X-Ledger-Source"] == "log"
    assert response.get_json()["linked_from"] == [{
        "event_id": made["id"], "claim_id": second, "kind": "same-as",
        "occurred_at": made["occurred_at"]}]
    assert response.headers["ETag"].startswith('"1-l')
    assert [x["target_claim_id"] for x in api.get(f"/v1/claims/{second}").get_json()["links"]] == [
        first]


def test_the_desk_finds_the_claim_to_link_through_the_search_index(views: LinkedViews) -> None:
    from tests.integration.test_desk_pages import Desk

    wait_until(lambda: (views.api.get("/v1/projections").get_json() or {})
               .get("search", {}).get("available"), 60, "the search index")
    target = views.record(statement="Rosatom will build two more reactors at Bushehr.",
                          claimant={"name": "Rosatom"})["claim_id"]
    source = views.record()["claim_id"]

    def indexed() -> bool:
        found = views.page(q="Rosatom reactors", min_position=views.head()).get_json()
        return any(item["id"] == target for item in found.get("items", []))

    wait_until(indexed, 30, "the index to hold the new claim")
    desk = Desk(views.api)
    desk.sign_in("editor")
    # websearch syntax: only the index finds anything for it (the fallback wants every word)
    page = desk.get(f"/desk/claims/{source}?link_q=Rosatom+OR+Zayandeh").get_data(as_text=True)
    assert f'name="target_claim_id" value="{target}"' in page
