"""The desk links claims by searching, never by typing an id, and shows links both ways."""

from __future__ import annotations

import re
from pathlib import Path

from api.view_service import view_service
from tests.integration.desk_support import ViewedApi, viewed_api, views_server_fixture  # noqa: F401
from tests.integration.test_desk_pages import Desk, text
from tests.support.redis_server import RedisServer
from workers.purge import purge_claim

KERRY = "John Kerry personally asked Iran's foreign minister to cooperate against ISIL."
SHERMAN = "Wendy Sherman asked Abbas Araqchi for cooperation against ISIL; Araqchi refused."


def two_claims(tmp_path: Path, server: RedisServer) -> tuple[ViewedApi, Desk, str, str]:
    viewed = viewed_api(tmp_path, server)
    kerry = viewed.api.new_claim(statement=KERRY)
    sherman = viewed.api.new_claim(statement=SHERMAN, claimant={"name": "Ali Khamenei"})
    viewed.project()
    desk = Desk(viewed.api)
    desk.sign_in("editor")
    return viewed, desk, kerry, sherman


def test_an_editor_finds_the_other_claim_by_its_words_and_links_it(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed, desk, kerry, sherman = two_claims(tmp_path, views_server)
    page = text(desk.get(f"/desk/claims/{sherman}?link_q=kerry+ISIL"))
    assert 'role="search"' in page
    assert "1 claim found" in page
    assert KERRY.replace("'", "&#39;") in page
    assert f'name="target_claim_id" value="{kerry}"' in page
    assert f'value="{sherman}"' not in page  # never itself
    assert "No other claim holds all of" in text(
        desk.get(f"/desk/claims/{sherman}?link_q=bushehr"))

    response = desk.post(f"/desk/claims/{sherman}/links", {
        "target_claim_id": kerry, "kind": "restates", "note": "Told of Sherman instead.",
        "idempotency_key": "link-key-0001",
    })
    assert response.status_code == 303, text(response)
    event = viewed.api.store.read_claim(sherman)[-1]
    assert (event.type, event.data) == ("ClaimLinked", {
        "target_claim_id": kerry, "kind": "restates", "note": "Told of Sherman instead."})
    viewed.project()
    source = text(desk.get(f"/desk/claims/{sherman}"))
    assert re.search(r'class="link-kind">Restates</span>\s*<a href="/desk/claims/' + kerry, source)
    assert "Told of Sherman instead." in source
    target = text(desk.get(f"/desk/claims/{kerry}"))
    assert re.search(r'class="link-kind">Restated by</span>\s*<a href="/desk/claims/' + sherman,
                     target)


def test_a_bad_link_is_not_recorded_and_says_why(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed, desk, _kerry, sherman = two_claims(tmp_path, views_server)
    head = viewed.api.store.head()
    response = desk.post(f"/desk/claims/{sherman}/links",
                         {"target_claim_id": sherman, "kind": "same-as"})
    assert response.status_code == 422
    page = text(response)
    assert "Not linked — please fix" in page
    assert "Names this claim itself." in page
    assert viewed.api.store.head() == head


def test_readers_see_the_links_but_no_link_form(tmp_path: Path, views_server: RedisServer) -> None:
    viewed, _desk, kerry, sherman = two_claims(tmp_path, views_server)
    viewed.api.post(f"/v1/claims/{kerry}/links", {"target_claim_id": sherman,
                                                  "kind": "contradicts"})
    viewed.project()
    reader = Desk(viewed.api)
    reader.sign_in("reader")
    page = text(reader.get(f"/desk/claims/{sherman}?link_q=kerry"))
    assert "Contradicted by" in page
    assert 'id="form-links"' not in page


def test_a_linked_claim_redacted_later_shows_on_the_other_claim_without_its_text(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed, desk, kerry, sherman = two_claims(tmp_path, views_server)
    assert desk.post(f"/desk/claims/{sherman}/links", {
        "target_claim_id": kerry, "kind": "restates",
        "idempotency_key": "link-key-0002"}).status_code == 303
    viewed.project()
    assert "John Kerry personally" in text(desk.get(f"/desk/claims/{sherman}"))
    store = viewed.api.store
    store.redact(store.read_claim(kerry)[0].id, actor="test", reason="legal")
    with viewed.api.app.app_context():
        keys = view_service().config.keys
    purge_claim(viewed.redis, store, kerry, keys=keys, scales=store.scales)
    viewed.project()
    page = text(desk.get(f"/desk/claims/{sherman}"))
    assert re.search(r'class="link-kind">Restates</span>\s*<a href="/desk/claims/' + kerry, page)
    assert "John Kerry personally" not in page
    # and no new link may point at it
    refused = desk.post(f"/desk/claims/{sherman}/links", {"target_claim_id": kerry,
                                                           "kind": "same-as"})
    assert refused.status_code == 422
    assert "Redacted: its record was removed" in text(refused)
