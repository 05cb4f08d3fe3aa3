"""The desk's forms in plain words: messages beside the fields, text of only spaces,
tags named, optional groups, and dates as editors write them (a zone, a day alone, a
check before a date in the future or years away from the claim)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.integration.test_desk_pages import Desk, text
from tests.support.api_harness import ApiHarness


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, DATA_DIR=tmp_path)


@pytest.fixture
def desk(api: ApiHarness) -> Desk:
    return Desk(api)


def errors(page: str, form: str) -> dict[str, str]:
    """The messages beside a form's fields, by field id."""
    found = re.findall(rf'id="{form}-([a-z-]+)-error-1">([^<]*)<', page)
    return {name: html.unescape(message) for name, message in found}


def test_a_refused_form_keeps_its_values_and_asks_in_plain_words(desk: Desk, api: ApiHarness
                                                                 ) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    head = api.store.head()
    response = desk.post(f"/desk/claims/{claim_id}/denials", {
        "by.name": "   ", "note": "  \r\n ", "appearance.quote": "Only a quote.",
        "occurred_at": "Sept 16", "tz": "Asia/Tehran",
    })
    assert response.status_code == 422
    page = text(response)
    assert api.store.head() == head
    said = errors(page, "denials")
    assert said["by-name"] == "Give the name of who denied the claim."
    assert said["note"] == "This has only spaces: write something or leave it empty."
    assert said["appearance-outlet"].startswith("Give the outlet where it appeared")
    assert "leave every appearance field empty" in said["appearance-outlet"]
    assert said["occurred-at"] == ("“Sept 16” is not a date with a day, a month and a year,"
                                   " e.g. 16 Sep 2014. Give the date the denial was made, e.g."
                                   " 16 Sep 2014 10:00.")
    # the refused form comes first, its summary focused; what was typed comes back
    assert page.index('id="forms"') < page.index('id="state"')
    assert 'id="denials-summary" role="alert" tabindex="-1" autofocus' in page
    assert 'value="Sept 16"' in page
    assert ">Only a quote.</textarea>" in page
    assert 'name="tz" type="text" list="zone-names" value="Asia/Tehran"' in page
    # required and optional are said the same way in every label
    assert "(required)</span>" in page
    assert "(optional)</span>" in page
    assert "(required for an appearance)</span>" in page


def test_a_bad_tag_is_named(desk: Desk) -> None:
    desk.sign_in("editor")
    response = desk.post("/desk/new", {
        "statement": "Iran rejected the request.", "claimant.name": "Ali Khamenei",
        "appearance.outlet": "Fars News Agency", "tags": "Iran, isil, US contacts",
    })
    assert response.status_code == 422
    page = html.unescape(text(response))
    assert "Tag “Iran”: Use lowercase letters" in errors(page, "claims")["tags"]
    assert 'id="claims-tags-error-2">Tag “US contacts”: Use lowercase' in page
    assert "E.g. “iran”." in page
    assert "E.g. “us-contacts”." in page
    assert "Tag “isil”" not in page


def test_an_empty_optional_group_is_left_out(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    response = desk.post(f"/desk/claims/{claim_id}/verdicts", {
        "scale": "standard", "value": "mostly-true", "explanation": "Partly confirmed.",
        "reviewer.name": "", "reviewer.same_as": "", "occurred_at": "", "occurred_at:time": "",
    })
    assert response.status_code == 303, text(response)
    assert "reviewer" not in api.store.read_claim(claim_id)[-1].data


def test_dates_are_read_in_the_editors_zone(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    day_only = desk.post(f"/desk/claims/{claim_id}/denials", {
        "by.name": "U.S. Department of State", "occurred_at": "2014-09-16", "tz": "Asia/Tehran",
    })
    assert day_only.status_code == 303, text(day_only)
    assert "claimledger_desk_tz=Asia/Tehran" in day_only.headers["Set-Cookie"]
    event = api.store.read_claim(claim_id)[-1]
    assert event.occurred_at == "2014-09-15T19:30:00.000000Z"  # 00:00 in Tehran (+04:30)
    page = text(desk.get(day_only.headers["Location"]))
    assert "The story's first appearance (Fars News Agency): <time datetime=\"2014-09-15\">15 Sep" \
        " 2014</time>; the date boxes suggest it." in html.unescape(page)
    assert "16 Sep 2014 (the start of the day, 00:00 Asia/Tehran)" in page
    # the zone is remembered: the next forms start in it
    assert 'list="zone-names" value="Asia/Tehran"' in page
    timed = desk.post(f"/desk/claims/{claim_id}/corroborations", {
        "by.name": "The New York Times", "occurred_at": "2014-09-15",
        "occurred_at:time": "08:00", "tz": "America/New_York",
        "appearance.outlet": "The New York Times", "appearance.published_at": "15/09/2014",
    })
    assert timed.status_code == 303, text(timed)
    event = api.store.read_claim(claim_id)[-1]
    assert event.occurred_at == "2014-09-15T12:00:00.000000Z"
    assert event.data["appearance"]["published_at"] == "2014-09-15T04:00:00.000000Z"
    exact = desk.post(f"/desk/claims/{claim_id}/notes", {
        "text": "An RFC 3339 time keeps its own zone.", "occurred_at": "2014-09-16T10:00:00-04:00",
        "tz": "Asia/Tehran"})
    assert exact.status_code == 303
    assert api.store.read_claim(claim_id)[-1].occurred_at == "2014-09-16T14:00:00.000000Z"
    bad_zone = desk.post(f"/desk/claims/{claim_id}/notes", {
        "text": "x", "occurred_at": "2014-09-16", "tz": "Mars/Olympus"})
    assert bad_zone.status_code == 422
    assert "is not a time zone" in errors(text(bad_zone), "notes")["occurred-at"]


def test_a_date_in_the_future_or_years_away_is_checked_first(desk: Desk, api: ApiHarness
                                                             ) -> None:
    claim_id = api.new_claim()  # the sample story: September 2014
    desk.sign_in("editor")
    head = api.store.head()
    form = {"by.name": "U.S. Department of State", "occurred_at": "2099-09-16",
            "occurred_at:time": "10:00", "tz": "UTC"}
    future = desk.post(f"/desk/claims/{claim_id}/denials", form)
    assert future.status_code == 422
    page = html.unescape(text(future))
    assert "Occurred on: 16 Sep 2099 10:00 UTC is in the future." in page
    assert api.store.head() == head
    token = re.search(r'name="confirm_dates" value="([^"]+)"', page)
    assert token is not None
    far = desk.post(f"/desk/claims/{claim_id}/denials", {**form, "occurred_at": "2019-09-16"})
    assert "is 5 years away from the rest of the claim (15 Sep 2014" in html.unescape(text(far))
    confirmed = desk.post(f"/desk/claims/{claim_id}/denials",
                          {**form, "confirm_dates": token.group(1)})
    assert confirmed.status_code == 303
    assert api.store.read_claim(claim_id)[-1].occurred_at == "2099-09-16T10:00:00.000000Z"
    near = desk.post(f"/desk/claims/{claim_id}/notes", {"text": "x", "occurred_at": "2014-10-01"})
    assert near.status_code == 303  # within the story: no question


@pytest.mark.parametrize("cookie", ["Asia", "x" * 3000, "Europe/../../../etc/passwd"])
def test_a_zone_cookie_that_is_no_zone_is_ignored(desk: Desk, api: ApiHarness,
                                                  cookie: str) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    api.client.set_cookie("claimledger_desk_tz", cookie, path="/desk")
    response = desk.get(f"/desk/claims/{claim_id}")
    assert response.status_code == 200
    assert 'name="tz" type="text" list="zone-names" value="UTC"' in text(response)
