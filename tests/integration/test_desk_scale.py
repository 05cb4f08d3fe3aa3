"""The desk with long claims: pages of entries, an aggregated timeline, a corrections form
without an option per entry, the changes fragment a live page fetches, paged history,
and the per-principal page rate limit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.desk.claimpage import AGGREGATE_ABOVE, HISTORY_PAGE, PAGE_SIZE
from api.view_service import view_service
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from tests.integration.desk_support import viewed_api, views_server_fixture  # noqa: F401
from tests.integration.test_desk_pages import Desk, text
from tests.support.api_harness import ApiHarness
from tests.support.redis_server import RedisServer

_ROW = re.compile(r'<tr id="event-[0-9a-f-]+" class="entry-')


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, DATA_DIR=tmp_path)


@pytest.fixture
def desk(api: ApiHarness) -> Desk:
    return Desk(api)


def long_claim(api: ApiHarness, notes: int) -> str:
    """A claim with ``notes`` notes after its ClaimRecorded, appended in one go."""
    claim_id = api.new_claim()
    events = [NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": f"N{i}."}))
              for i in range(1, notes + 1)]
    api.store.append(events, actor="desk@example.org")
    return claim_id


def rows(html: str) -> int:
    return len(_ROW.findall(html))


def test_a_claim_page_shows_one_page_of_entries_with_links_to_the_others(
    desk: Desk, api: ApiHarness
) -> None:
    claim_id = long_claim(api, 120)  # versions 1-121
    desk.sign_in("reader")
    newest = text(desk.get(f"/desk/claims/{claim_id}"))
    assert rows(newest) == PAGE_SIZE
    assert "v72–v121 of 121" in newest
    assert "N120." in newest
    assert "N70." not in newest.split('id="entries"')[1]
    assert "upto=71" in newest
    oldest = text(desk.get(f"/desk/claims/{claim_id}?upto=21"))
    assert rows(oldest) == 21
    assert "v1–v21 of 121" in oldest
    assert "Newer entries" in oldest
    assert "Older entries" not in oldest
    assert rows(text(desk.get(f"/desk/claims/{claim_id}?upto=999999"))) == PAGE_SIZE


def test_the_state_lists_only_the_latest_notes(desk: Desk, api: ApiHarness) -> None:
    claim_id = long_claim(api, 60)
    desk.sign_in("reader")
    state = text(desk.get(f"/desk/claims/{claim_id}")).split('id="state"')[1].split("</section>")[0]
    assert "The latest 20 of 60 notes" in state
    assert "N60." in state
    assert "N40." not in state


def test_a_long_claims_timeline_is_a_histogram(desk: Desk, api: ApiHarness) -> None:
    short = long_claim(api, AGGREGATE_ABOVE - 1)
    long = long_claim(api, AGGREGATE_ABOVE + 10)
    desk.sign_in("reader")
    drawn = text(desk.get(f"/desk/claims/{short}")).split('id="timeline"')[1].split("</svg>")[0]
    assert drawn.count('class="mark note shape-small-square') == AGGREGATE_ABOVE - 1
    summed = text(desk.get(f"/desk/claims/{long}"))
    assert 'class="timeline histogram"' in summed
    assert "shape-small-square" not in summed.split('id="timeline"')[1].split("</svg>")[0]
    assert f"Notes &amp; corrections ({AGGREGATE_ABOVE + 10})" in summed


def test_the_corrections_form_names_its_target_by_version_not_by_an_option_each(
    desk: Desk, api: ApiHarness
) -> None:
    claim_id = long_claim(api, 80)
    desk.sign_in("editor")
    html = re.sub(r"<datalist id=\"zone-names\">.*?</datalist>", "",
                  text(desk.get(f"/desk/claims/{claim_id}")))  # one list of time zones a page
    assert html.count("<option") < 40  # scales, kinds and verdicts, not 81 entries
    target = api.store.read_claim(claim_id, after=2, limit=1)[0]
    picked = desk.get(f"/desk/claims/{claim_id}/correct?entry=v3")
    assert picked.status_code == 302
    assert picked.headers["Location"].endswith(f"/entries/{target.id}/correct")
    posted = desk.post(picked.headers["Location"], {"kind": "void", "reason": "Logged twice."})
    assert posted.status_code == 303, text(posted)[:400]
    correction = api.store.claim_corrections(claim_id)[-1]
    assert correction.data is not None
    assert correction.data["target_event_id"] == target.id
    assert desk.get(f"/desk/claims/{claim_id}/correct?entry=v999").status_code == 404


def test_the_changes_fragment_holds_only_the_entries_after_a_version(
    desk: Desk, api: ApiHarness
) -> None:
    claim_id = long_claim(api, 10)  # versions 1-11
    desk.sign_in("reader")
    page = text(desk.get(f"/desk/claims/{claim_id}"))
    assert 'data-after="11"' in page
    assert 'data-append="1"' in page
    assert rows(text(desk.get(f"/desk/claims/{claim_id}/changes?after=11"))) == 0
    api.post(f"/v1/claims/{claim_id}/notes", {"text": "Late note."})
    fragment = text(desk.get(f"/desk/claims/{claim_id}/changes?after=11"))
    assert rows(fragment) == 1
    assert "Late note." in fragment
    assert 'data-after="12"' in fragment
    assert 'id="state"' in fragment
    many = text(desk.get(f"/desk/claims/{claim_id}/changes?after=0"))
    assert rows(many) == 12
    for bad in ("", "?after=x", "?after=-1", "?after=9223372036854775808"):
        assert desk.get(f"/desk/claims/{claim_id}/changes{bad}").status_code == 400
    older = text(desk.get(f"/desk/claims/{long_claim(api, 60)}?upto=10"))
    assert "data-append" not in older  # an older page is not appended to


def test_the_history_page_verifies_the_page_it_shows(desk: Desk, api: ApiHarness) -> None:
    claim_id = long_claim(api, HISTORY_PAGE + 30)
    desk.sign_in("auditor")
    newest = text(desk.get(f"/desk/claims/{claim_id}/history"))
    assert "<strong>Verified</strong>" in newest
    assert newest.count('<tr id="event-') == HISTORY_PAGE
    assert f"v32–v{HISTORY_PAGE + 31} of {HISTORY_PAGE + 31}" in newest
    first = text(desk.get(f"/desk/claims/{claim_id}/history?upto=31"))
    assert "<strong>Verified</strong>" in first
    assert first.count('<tr id="event-') == 31


def test_past_the_desk_rate_limit_pages_answer_429_per_principal(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path, DESK_RATE_LIMIT="5/minute")
    claim_id = api.new_claim()
    first = Desk(api)
    second = Desk(ApiHarness(api.app, api.app.test_client(), api.store, api.tokens))
    first.sign_in("reader")  # its form and post count for the address, the list for the token
    statuses = [first.get(f"/desk/claims/{claim_id}").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    refused = first.get(f"/desk/claims/{claim_id}/changes?after=1")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    second.sign_in("editor")  # another token counts on its own
    assert second.get(f"/desk/claims/{claim_id}").status_code == 200


def test_a_long_claims_page_reads_its_state_from_the_views(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed = viewed_api(tmp_path, views_server)
    claim_id = long_claim(viewed.api, 70)
    viewed.project()
    reader = Desk(viewed.api)
    reader.sign_in("reader")
    html = text(reader.get(f"/desk/claims/{claim_id}"))
    assert "The latest 20 of 70 notes" in html
    assert rows(html) == PAGE_SIZE


def test_a_long_claim_years_apart_has_a_histogram_on_a_broken_axis(
    tmp_path: Path, views_server: RedisServer
) -> None:
    """150 notes over two days of 2014 and 60 on one day of 2026, read from the views: two
    parts, each to its own scale, stated; views kept before the parts draw one axis."""
    viewed = viewed_api(tmp_path, views_server)
    claim_id = viewed.api.new_claim()
    early = [NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": f"E{i}."}),
                      occurred_at=f"2014-09-{15 + i % 2}T{i % 24:02d}:00:00.000000Z")
             for i in range(150)]
    late = [NewEvent(claim_id, "NoteAdded", validate_payload("NoteAdded", {"text": f"L{i}."}),
                     occurred_at=f"2026-01-15T10:{i:02d}:00.000000Z") for i in range(60)]
    viewed.api.store.append([*early, *late], actor="desk@example.org")
    viewed.project()
    reader = Desk(viewed.api)
    reader.sign_in("reader")
    html = text(reader.get(f"/desk/claims/{claim_id}"))
    drawn = html.split('id="timeline"')[1].split("</svg>")[0]
    assert 'class="timeline histogram"' in drawn
    assert drawn.count('class="axis"') == 2
    assert "11 years later" in drawn
    note = html.split('id="timeline-scale">')[1].split("</p>")[0]
    assert "each of its 2 parts has its own scale" in note
    assert "15 Sep 2014 00:00 – 16 Sep 2014 23:00" in note
    assert "15 Jan 2026 10:00 – 15 Jan 2026 10:59" in note
    assert "Each bar counts the entries of a span of 118 minutes in part 1; 2 minutes in part 2" \
        in note
    # views written before the parts were kept: the whole span on one axis, still stated
    [key] = [k for k in viewed.redis.scan_iter(f"*{claim_id}*")
             if viewed.redis.type(k) == b"hash" and viewed.redis.hexists(k, "recent")]
    kept = json.loads(viewed.redis.hget(key, "recent") or "null")
    del kept["histogram"]["parts"]
    viewed.redis.hset(key, "recent", json.dumps(kept))
    old = text(reader.get(f"/desk/claims/{claim_id}"))
    assert old.split('id="timeline"')[1].split("</svg>")[0].count('class="axis"') == 1
    assert "Time scale: 15 Sep 2014 00:00 – 15 Jan 2026 10:59" in old


def test_a_long_claims_links_are_read_from_its_recent_state_not_its_whole_one(
    tmp_path: Path, views_server: RedisServer
) -> None:
    """The claim page lists the claim's links from the views' recent state (the same size at
    any length), so it still lists them with the claim's whole state gone from the views."""
    viewed = viewed_api(tmp_path, views_server)
    claim_id = long_claim(viewed.api, 30)
    other = viewed.api.new_claim(statement="Zarif said no such help was asked for.")
    linked = viewed.api.post(f"/v1/claims/{claim_id}/links",
                             {"target_claim_id": other, "kind": "same-as"})
    assert linked.status_code == 201, linked.get_json()
    viewed.project()
    [key] = [k for k in viewed.redis.scan_iter(f"*{claim_id}*")
             if viewed.redis.type(k) == b"hash" and viewed.redis.hexists(k, "recent")]
    viewed.redis.hdel(key, "state")
    with viewed.api.app.app_context(), view_service().reading() as views:
        found, _ = views.list_claims(linked_to=claim_id, limit=200, brief=True)
    assert [item["id"] for item in found] == [other]
    reader = Desk(viewed.api)
    reader.sign_in("reader")
    assert "Zarif said no such help was asked for." in text(reader.get(f"/desk/claims/{claim_id}"))
