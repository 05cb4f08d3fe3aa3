"""Adding an entry type is one registry line plus its payload schema and fold rule.

A throwaway kind (``flags``, event type ``FlagRaised``) is registered for one app built
by ``create_app``: it shows up as a route, in the OpenAPI document, in the append lane,
in the fold and as a form on the desk's claim page, and in no other app; the desk posts it
from that form and draws it (the kind names no style, so it takes the registry's default).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.entry_kinds import ENTRY_KINDS, OCCURRED, EntryKind, Field, entry_table
from api.fastlane import AppendLane
from ledger import events, fold
from ledger.events import EventType, StrictSchema
from ledger.fields import Text
from ledger.fold import Effects, Tally, as_entry
from ledger.scales import Scales
from tests.support.api_harness import ApiHarness
from tests.support.paths import ROOT

FLAG_PATH = "/v1/claims/{claim_id}/flags"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class FlagRaisedSchema(StrictSchema):
    """Payload of ``FlagRaised``: an editor's flag on a claim (a test's own event type)."""

    reason = Text(500, required=True)


def fold_flag(tally: Tally, event: Any, data: dict[str, Any], effects: Effects, _: Scales
              ) -> None:
    """The fold rule of ``FlagRaised``: a flag reads as a note."""
    tally.notes.append(as_entry(event, {"text": f"Flag: {data['reason']}"}, effects))


@pytest.fixture(name="flags")
def flags_fixture(monkeypatch: pytest.MonkeyPatch) -> EntryKind:
    """The throwaway kind; the ledger's event type and fold rule are undone after the test."""
    monkeypatch.setitem(events.EVENT_TYPES, "FlagRaised",
                        EventType("FlagRaised", 1, FlagRaisedSchema))
    monkeypatch.setitem(fold.RULES, "FlagRaised", fold_flag)
    return EntryKind("flags", "FlagRaised", "Raise a flag on the claim (FlagRaised).",
                    "Raise a flag", "Raise flag",
                    (Field("reason", "Reason", "textarea", required=True), OCCURRED),
                    "flag", page=7)


def claim_page(api: ApiHarness, claim_id: str) -> str:
    """The desk's claim page as an editor signed in to the desk sees it."""
    csrf = CSRF.search(api.client.get("/desk/sign-in").get_data(as_text=True))
    assert csrf is not None
    signed_in = api.client.post("/desk/sign-in", data={
        "csrf_token": csrf.group(1), "token": api.tokens["editor"], "next": "/desk/"})
    assert signed_in.status_code == 303
    page = api.client.get(f"/desk/claims/{claim_id}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def openapi(api: ApiHarness) -> dict[str, Any]:
    document: dict[str, Any] = api.client.get("/openapi.json").get_json()
    return document


def test_a_registered_entry_kind_is_routed_documented_served_folded_and_on_the_desk(
    tmp_path: Path, flags: EntryKind
) -> None:
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path, ENTRY_KINDS=(*ENTRY_KINDS, flags))
    rules = {r.rule: r.methods for r in api.app.url_map.iter_rules()}
    assert "POST" in rules["/v1/claims/<uuid:claim_id>/flags"]

    document = openapi(api)
    paths = list(document["paths"])
    assert paths.index(FLAG_PATH) == paths.index("/v1/claims/{claim_id}/links") + 1
    operation = document["paths"][FLAG_PATH]["post"]
    assert operation["summary"] == "Raise a flag on the claim (FlagRaised)."
    assert operation["tags"] == ["entries"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewFlag"
    }
    assert list(document["components"]["schemas"]["NewFlag"]["properties"]) == [
        "reason", "occurred_at"
    ]

    claim_id = api.new_claim()
    html = claim_page(api, claim_id)
    assert 'id="form-flags"' in html
    assert "Raise a flag" in html
    assert f'action="/desk/claims/{claim_id}/flags"' in html

    lane = api.app.wsgi_app
    assert isinstance(lane, AppendLane)
    assert "flags" in lane.routes()
    served = lane.served
    response = api.post(f"/v1/claims/{claim_id}/flags", {"reason": "Unsourced quote."})
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["type"], lane.served) == ("FlagRaised", served + 1)
    refused = api.post(f"/v1/claims/{claim_id}/flags", {"reason": ""})
    assert refused.status_code == 422
    state = api.get(f"/v1/claims/{claim_id}").get_json()
    assert [note["text"] for note in state["notes"]] == ["Flag: Unsourced quote."]


def test_a_registered_entry_kind_is_posted_from_the_desk_and_drawn_in_its_default_style(
    tmp_path: Path, flags: EntryKind
) -> None:
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path, ENTRY_KINDS=(*ENTRY_KINDS, flags))
    claim_id = api.new_claim()
    csrf = CSRF.search(claim_page(api, claim_id))
    assert csrf is not None
    posted = api.client.post(f"/desk/claims/{claim_id}/flags", data={
        "csrf_token": csrf.group(1), "reason": "Unsourced quote."})
    assert posted.status_code == 303, posted.get_data(as_text=True)
    flag = api.store.read_claim(claim_id)[-1]
    assert (flag.type, flag.version, flag.data) == ("FlagRaised", 2, {"reason": "Unsourced quote."})
    assert posted.headers["Location"].endswith(f"#event-{flag.id}")

    html = api.client.get(posted.headers["Location"]).get_data(as_text=True)
    assert "Flag recorded as version 2." in html
    timeline = html.split('<svg class="timeline"')[1].split("</svg>")[0]
    assert f'<g class="mark note shape-small-square" data-event-id="{flag.id}">' in timeline
    assert 'aria-label="v2 Flag, occurred' in timeline
    row = html.split(f'<tr id="event-{flag.id}"')[1].split("</tr>")[0]
    assert 'class="entry-note"' in row
    assert "</svg> Flag" in row
    assert "Unsourced quote." in row
    legend = html.split('<ul class="legend"')[1].split("</ul>")[0]
    assert legend.index("</svg> Link</li>") < legend.index("</svg> Flag</li>")  # after the rest

    history = api.client.get(f"/desk/claims/{claim_id}/history").get_data(as_text=True)
    assert "FlagRaised" in history
    record = api.client.get(f"/desk/claims/{claim_id}/record").get_data(as_text=True)
    assert "<strong>Flag</strong>" in record
    correct = api.client.get(f"/desk/claims/{claim_id}/entries/{flag.id}/correct")
    assert correct.status_code == 200
    assert "Flag" in correct.get_data(as_text=True)


def test_an_entry_kind_registered_for_one_app_stays_out_of_the_others(
    tmp_path: Path, flags: EntryKind
) -> None:
    ApiHarness.create(tmp_path / "one", ENTRY_KINDS=(*ENTRY_KINDS, flags))
    other = ApiHarness.create(tmp_path / "other", DATA_DIR=tmp_path / "other")
    rules = {r.rule for r in other.app.url_map.iter_rules()}
    assert "/v1/claims/<uuid:claim_id>/flags" not in rules
    document = openapi(other)
    assert FLAG_PATH not in document["paths"]
    assert "NewFlag" not in document["components"]["schemas"]
    lane = other.app.wsgi_app
    assert isinstance(lane, AppendLane)
    assert "flags" not in lane.routes()
    claim_id = other.new_claim()
    html = claim_page(other, claim_id)
    assert 'id="form-denials"' in html
    assert 'id="form-flags"' not in html
    assert other.post(f"/v1/claims/{claim_id}/flags", {"reason": "x"}).status_code == 404


def test_the_api_docs_list_the_registered_entry_kinds() -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    shown = text.split("<!-- entry kinds: begin -->\n")[1].split("<!-- entry kinds: end -->")[0]
    assert shown == entry_table(ENTRY_KINDS), "paste api.entry_kinds's table into docs/api.md"
