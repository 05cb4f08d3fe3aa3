"""Other claims' links to a claim without Redis: a real redis-server and ``claimledger
worker`` (four partitions) answer first, then Redis stops and the log answers the same
``linked_from`` (and ETag) from its index of link targets, a redacted link gone from both;
a void made meanwhile drops out, ``as_of`` replays it, ``linked_to=`` pages the same,
and the desk's claim page shows the links both ways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.view_service import view_service
from tests.integration.test_desk_pages import Desk
from tests.integration.test_views_links import (
    LinkedViews,
    at_head,
    claims_in_other_partitions,
    link,
    linked_views,
)
from tests.support.redis_server import RedisServer
from workers.purge import purge_claim


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[LinkedViews]:
    """An app, Redis and worker of this test's own: the test stops Redis."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        with linked_views(tmp_path, server, DATA_DIR=tmp_path) as built:
            yield built
    finally:
        server.stop()


def from_log(views: LinkedViews, claim_id: str, **query: Any) -> tuple[dict[str, Any], str]:
    response = views.claim(claim_id, **query)
    assert response.status_code == 200, response.get_json()
    assert response.headers["X-Ledger-Source"] == "log"
    return response.get_json(), response.headers.get("ETag", "")


def pages(views: LinkedViews, source: str, **query: Any) -> list[tuple[list[Any], Any]]:
    """Every page of ``GET /v1/claims`` one claim at a time, as ``(items, next)``."""
    found, cursor = [], None
    while True:
        response = views.page(limit=1, **query, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.get_json()
        assert response.headers["X-Ledger-Source"] == source
        body = response.get_json()
        found.append((body["items"], body["next"]))
        cursor = body["next"]
        if cursor is None:
            return found


def test_with_redis_stopped_a_claim_shows_the_links_to_it_as_the_views_did(
    offline: LinkedViews,
) -> None:
    views = offline
    kerry, sherman, jones, lying = claims_in_other_partitions(views, 4)
    restates = link(views, sherman, kerry, "restates")
    answers = link(views, jones, kerry, "responds-to")
    link(views, kerry, jones, "contradicts")
    gone = link(views, lying, kerry, "same-as")
    views.write(lying, "corrections", {"target_event_id": gone["id"], "kind": "void",
                                       "reason": "Another claim."})
    views.write(jones, "corrections", {"target_event_id": answers["id"], "kind": "correction",
                                       "changes": {"kind": "contradicts"}, "reason": "Denies."})
    before_void = views.api.store.read_all(views.head() - 1, 1)[0].recorded_at
    # a link taken down: its payload redacted in the log, the views purged
    store = views.api.store
    taken = link(views, lying, jones, "restates")
    store.redact(taken["id"], actor="test", reason="Legal takedown.")
    with views.api.app.app_context():
        keys = view_service().config.keys
    purge_claim(views.server.client(), store, lying, keys=keys, scales=store.scales)

    # Redis up: the views answer
    seen = {claim: (at_head(views, claim), views.claim(claim).headers["ETag"])
            for claim in (kerry, sherman, jones, lying)}
    assert [(x["claim_id"], x["kind"]) for x in seen[kerry][0]["linked_from"]] == [
        (sherman, "restates"), (jones, "contradicts")]
    assert [x["claim_id"] for x in seen[jones][0]["linked_from"]] == [kerry]  # not lying's
    # as_of replays from the log: at the head it is the views' answer, without an ETag
    assert from_log(views, kerry, as_of=before_void)[0] == seen[kerry][0]

    listed = {claim: pages(views, "views", linked_to=claim, min_position=views.head())
              for claim in (kerry, jones)}
    assert [items[0]["id"] for items, _ in listed[kerry]] == [jones, sherman]
    assert pages(views, "views", linked_to=kerry, status="voided") == [([], None)]

    views.server.stop()
    for claim, (state, tag) in seen.items():
        assert from_log(views, claim) == (state, tag), claim
    # linked_to= from the log: the same items, pages and cursors
    for claim, expected in listed.items():
        assert pages(views, "log", linked_to=claim) == expected, claim
    assert pages(views, "log", linked_to=kerry, status="voided") == [([], None)]
    assert pages(views, "log", linked_to=kerry, claimant="nobody at all") == [([], None)]

    # a void recorded while Redis is down takes the link off at once (writes need no Redis)
    views.write(sherman, "corrections", {"target_event_id": restates["id"], "kind": "void",
                                         "reason": "Told of someone else."})
    now, tag = from_log(views, kerry)
    assert [(x["claim_id"], x["event_id"]) for x in now["linked_from"]] == [
        (jones, answers["id"])]
    assert tag != seen[kerry][1]
    # ... but not from what the ledger said before it was recorded
    assert from_log(views, kerry, as_of=before_void)[0] == seen[kerry][0]
    # a voided claim links nowhere
    views.write(jones, "corrections", {
        "target_event_id": views.api.store.read_claim(jones)[0].id, "kind": "void",
        "reason": "Logged in error."})
    assert "linked_from" not in from_log(views, kerry)[0]
    assert [items[0]["id"] for items, _ in pages(views, "log", linked_to=kerry,
                                                 status="voided")] == [jones]

    # the desk's claim page: both ways, the other claims named from the log
    desk = Desk(views.api)
    desk.sign_in("reader")
    page = desk.get(f"/desk/claims/{jones}").get_data(as_text=True)
    assert re.search(r'class="link-kind">Contradicted by</span>\s*<a href="/desk/claims/'
                     + kerry, page)
    assert re.search(r'class="link-kind">Contradicts</span>\s*<a href="/desk/claims/' + kerry,
                     page)  # its own link, its kind corrected
    assert "cannot answer just now" not in page
    target = desk.get(f"/desk/claims/{kerry}").get_data(as_text=True)
    assert 'class="linked inbound"' not in target  # jones voided, sherman's link voided
    assert 'class="linked outbound"' in target
    replay = desk.get(f"/desk/claims/{kerry}?as_of={before_void}").get_data(as_text=True)
    assert re.search(r'class="link-kind">Restated by</span>\s*<a href="/desk/claims/' + sherman,
                     replay)
    assert f"claim {sherman[:8]}" not in replay  # named by its statement, folded from the log
