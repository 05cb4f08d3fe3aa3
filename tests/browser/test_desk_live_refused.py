"""A desk tab whose live feed was refused (429) goes live again on its own (issue 15).

A browser never retries an ``EventSource`` answered with an error status, so before the
fix a claim page refused by the stream limit (or the desk's rate limit) stopped updating
until it was reloaded. Here the editor may hold one stream: a first tab takes it, a
second tab of the same claim is refused, the first tab closes, and the second must
reconnect by itself and show an entry appended afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.support.api_harness import CLAIM
from tests.support.server import Server, serving_with_views


@pytest.fixture(scope="module")
def one_stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A desk where each principal may hold a single live feed."""
    with serving_with_views(
        tmp_path_factory.mktemp("desk-one-stream"), workers=2,
        LEDGER_STREAM_LIMIT="1", LEDGER_DESK_RATE_LIMIT="off",
        LEDGER_STREAM_HEARTBEAT_SECONDS="2",
    ) as server:
        yield server


def test_a_refused_live_feed_comes_back_by_itself(browser: Any, one_stream_server: Server
                                                  ) -> None:
    server = one_stream_server
    with server.client("editor") as client:
        claim_id = client.post("/v1/claims", json=CLAIM).json()["claim_id"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    failures: list[str] = []
    try:
        first = context.new_page()
        first.on("pageerror", lambda error: failures.append(str(error)))
        sign_in(first, server, "editor")
        first.goto(f"{server.url}/desk/claims/{claim_id}")
        expect(first.locator("[data-live-stream]")).to_have_attribute("data-live", "open")

        second = context.new_page()  # same session, same principal: its feed is refused
        second.on("pageerror", lambda error: failures.append(str(error)))
        second.goto(f"{server.url}/desk/claims/{claim_id}")
        live = second.locator("[data-live-stream]")
        # "waiting" is set only once the browser has given the feed up (answered 429)
        expect(live).to_have_attribute("data-live", "waiting")

        first.close()  # gives its stream back
        expect(live).to_have_attribute("data-live", "open", timeout=40_000)
        with server.client("editor") as client:
            answer = client.post(f"/v1/claims/{claim_id}/notes", json={"text": "after the 429"})
            assert answer.status_code == 201, answer.text
        expect(second.locator("#live-status")).to_contain_text("Updated")
        expect(second.locator("#entries")).to_contain_text("after the 429")
    finally:
        context.close()
    assert not failures, failures
