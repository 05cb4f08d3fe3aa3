"""Corrections as forms: the entry shown by what it says, a pre-filled copy, the changes
computed by the desk; clarifications and voids carry only the reason."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.integration.test_desk_pages import Desk, text
from tests.support.api_harness import ApiHarness

DENIAL = {"by": {"name": "U.S. Department of State"}, "note": "Not welcome in the coalition.",
          "appearance": {"outlet": "Washington Free Beacon",
                         "published_at": "2014-09-15T19:00:00Z"},
          "occurred_at": "2014-09-15T19:00:00Z"}


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, DATA_DIR=tmp_path)


@pytest.fixture
def desk(api: ApiHarness) -> Desk:
    return Desk(api)


def _denied(api: ApiHarness) -> tuple[str, str]:
    claim_id = api.new_claim()
    denial = api.post(f"/v1/claims/{claim_id}/denials", DENIAL).get_json()
    return claim_id, denial["id"]


def test_a_correction_edits_a_prefilled_copy(desk: Desk, api: ApiHarness) -> None:
    claim_id, denial = _denied(api)
    desk.sign_in("editor")
    claim_page = text(desk.get(f"/desk/claims/{claim_id}"))
    assert f"/desk/claims/{claim_id}/entries/{denial}/correct" in claim_page
    path = f"/desk/claims/{claim_id}/entries/{denial}/correct"
    page = html.unescape(text(desk.get(path)))
    assert "Correct, clarify or void v2: denial by U.S. Department of State" in page
    assert "<blockquote>Not welcome in the coalition.</blockquote>" in page
    assert 'name="by.name" aria-required="true" type="text" value="U.S. Department of State"' \
        in re.sub(r' aria-describedby="[^"]*"', "", page)
    assert 'name="appearance.published_at" type="date" value="2014-09-15"' in re.sub(
        r' aria-describedby="[^"]*"', "", page)
    assert "Changes (JSON" not in page
    form = {"kind": "correction", "reason": "The note misquoted the spokesperson.",
            "by.name": "U.S. Department of State", "note": "Iran is not welcome in the coalition.",
            "appearance.outlet": "Washington Free Beacon", "appearance.published_at": "2014-09-15",
            "appearance.published_at:time": "19:00", "tz": "UTC"}
    posted = desk.post(path, form)
    assert posted.status_code == 303, text(posted)
    assert "claimledger_desk_tz" not in posted.headers.get("Set-Cookie", "")  # UTC: the copy's
    correction = api.store.claim_corrections(claim_id)[-1]
    assert correction.data == {"target_event_id": denial, "kind": "correction",
                               "reason": "The note misquoted the spokesperson.",
                               "changes": {"note": "Iran is not welcome in the coalition."}}
    assert "Correction of v2 recorded as version 3" in text(desk.get(posted.headers["Location"]))
    # the copy now starts from the corrected text
    assert "Iran is not welcome in the coalition." in text(desk.get(path))


def test_what_a_correction_cannot_do_is_said(desk: Desk, api: ApiHarness) -> None:
    claim_id, denial = _denied(api)
    desk.sign_in("editor")
    path = f"/desk/claims/{claim_id}/entries/{denial}/correct"
    base = {"by.name": "U.S. Department of State", "note": "Not welcome in the coalition.",
            "appearance.outlet": "Washington Free Beacon",
            "appearance.published_at": "2014-09-15", "appearance.published_at:time": "19:00"}
    head = api.store.head()
    unchanged = desk.post(path, {**base, "kind": "correction", "reason": "x"})
    assert unchanged.status_code == 422
    assert "Nothing in the copy was changed" in text(unchanged)
    emptied = desk.post(path, {**base, "note": "", "kind": "correction", "reason": "x"})
    assert "A correction cannot empty this" in text(emptied)
    nothing = desk.post(path, {**base, "by.name": "State"})
    page = html.unescape(text(nothing))
    assert "Choose what to do: correct, clarify or void the entry." in page
    assert "Give the reason, e.g. the outlet misquoted the minister." in page
    assert 'id="correct-summary" role="alert" tabindex="-1" autofocus' in page
    blank = desk.post(path, {**base, "by.name": " ", "kind": "correction", "reason": "x"})
    assert "Give the name of who denied the claim." in html.unescape(text(blank))
    assert api.store.head() == head


@pytest.mark.parametrize("kind", ["clarification", "void"])
def test_a_clarification_or_void_carries_only_the_reason(desk: Desk, api: ApiHarness,
                                                         kind: str) -> None:
    claim_id, denial = _denied(api)
    desk.sign_in("editor")
    path = f"/desk/claims/{claim_id}/entries/{denial}/correct"
    posted = desk.post(path, {"kind": kind, "reason": "About another claim.",
                              "note": "edited but ignored"})
    assert posted.status_code == 303, text(posted)
    assert api.store.claim_corrections(claim_id)[-1].data == {
        "target_event_id": denial, "kind": kind, "reason": "About another claim."}
    if kind == "void":
        assert "it can no longer be corrected" in text(desk.get(path))


def test_only_an_editor_corrects_an_entry_of_this_claim(desk: Desk, api: ApiHarness) -> None:
    claim_id, denial = _denied(api)
    other = api.new_claim()
    anonymous = desk.get(f"/desk/claims/{claim_id}/correct?entry=v2")
    assert "/desk/sign-in" in anonymous.headers["Location"]  # no event id for a visitor
    desk.sign_in("reader")
    assert desk.get(f"/desk/claims/{claim_id}/entries/{denial}/correct").status_code == 403
    assert desk.get(f"/desk/claims/{claim_id}/correct?entry=v2").status_code == 403
    desk.sign_in("editor")
    assert desk.get(f"/desk/claims/{other}/entries/{denial}/correct").status_code == 404


def test_valid_at_replays_the_story_as_it_stood_in_the_world(desk: Desk, api: ApiHarness
                                                             ) -> None:
    claim_id, denial = _denied(api)  # the claim 15 Sep 2014 11:00, the denial 19:00 that day
    api.post(f"/v1/claims/{claim_id}/corroborations",
             {"by": {"name": "The New York Times"}, "occurred_at": "2014-09-16T12:00:00Z"})
    api.post(f"/v1/claims/{claim_id}/corrections",
             {"target_event_id": denial, "kind": "clarification", "reason": "Context."})
    desk.sign_in("editor")
    before = html.unescape(text(desk.get(
        f"/desk/claims/{claim_id}?valid_at=2014-09-15T18:00:00Z")))
    assert "as things stood in the world at <time>2014-09-15 18:00:00 UTC</time>" in before
    assert 'id="claim-status"><span class="badge status status-unverified">' in before
    assert "Forms are hidden while replaying" in before
    day = html.unescape(text(desk.get(f"/desk/claims/{claim_id}?valid_at=16 Sep 2014")))
    assert 'status-denied">' in day  # a date alone is its start: the denial, not the NYT
    assert "clarification of" in day  # a correction is about the record: always replayed
    both = html.unescape(text(desk.get(
        f"/desk/claims/{claim_id}?valid_at=2014-09-17&as_of=2000-01-01T00:00:00Z")))
    assert "At that time the ledger held no record of this claim." in both
    bad = text(desk.get(f"/desk/claims/{claim_id}?valid_at=Sept 16"))
    assert 'id="valid-at-error"' in bad


def test_a_timeline_years_apart_breaks_its_axis(desk: Desk, api: ApiHarness) -> None:
    claim_id, _ = _denied(api)
    api.post(f"/v1/claims/{claim_id}/notes", {"text": "Logged without a date."})  # now
    desk.sign_in("reader")
    page = html.unescape(text(desk.get(f"/desk/claims/{claim_id}")))
    assert page.count('class="axis"') == 2
    assert 'class="break-mark"' in page
    assert "The time axis is broken where nothing happened for a long time (gaps of 12 years)" \
        in page
    marks = [float(x) for x in re.findall(r'class="mark [^"]*" data-event-id="[^"]+">'
                                          r'<(?:circle cx|polygon points)="([\d.]+)', page)]
    assert max(marks[:2]) - min(marks[:2]) > 50  # the 2014 entries are spread, not squashed


def _copy(page: str) -> dict[str, str]:
    """The form values of the copy as a browser would send them back unedited."""
    found = dict(re.findall(r'name="([^"]+)"[^>]*?value="([^"]*)"', page))
    found.update(re.findall(r'name="([^"]+)"[^>]*>\n?([^<]*)</textarea>', page))
    return {k: html.unescape(v) for k, v in found.items() if k != "csrf_token"}


def test_fields_left_as_the_copy_shows_them_are_not_changed(desk: Desk, api: ApiHarness
                                                             ) -> None:
    # a time to the microsecond (the copy shows milliseconds, a time input takes no more)
    # and a statement with spaces around it are no change when left alone
    claim_id = api.new_claim(statement="  Kerry asked Zarif.  ", appearance={
        "outlet": "Fars", "published_at": "2014-09-15T09:00:07.123456Z", "quote": "Old."})
    recorded = api.store.read_claim(claim_id)[0]
    desk.sign_in("editor")
    path = f"/desk/claims/{claim_id}/entries/{recorded.id}/correct"
    form = _copy(text(desk.get(path)))
    assert form["appearance.published_at:time"] == "09:00:07.123"
    posted = desk.post(path, {**form, "kind": "correction", "reason": "Misquoted.",
                              "appearance.quote": "New."})
    assert posted.status_code == 303, text(posted)
    changes = api.store.claim_corrections(claim_id)[-1].data["changes"]  # type: ignore[index]
    assert changes == {"appearance": {"outlet": "Fars", "quote": "New.",
                                      "published_at": "2014-09-15T09:00:07.123456Z"}}
    # an edited time is read as typed, to the millisecond
    form = _copy(text(desk.get(path)))
    posted = desk.post(path, {**form, "kind": "correction", "reason": "Later.",
                              "appearance.published_at:time": "10:00:07.5"})
    assert posted.status_code == 303, text(posted)
    changes = api.store.claim_corrections(claim_id)[-1].data["changes"]  # type: ignore[index]
    assert changes["appearance"]["published_at"] == "2014-09-15T10:00:07.500000Z"
