"""The desk on a real SQLite file: sign-in, CSRF, reading rights, forms, timeline, history."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from api.desk.forms import ENTRY_FORMS
from api.view_service import view_service
from tests.integration.desk_support import viewed_api, views_server_fixture  # noqa: F401
from tests.support.api_harness import DENIAL, VERDICT, ApiHarness
from tests.support.redis_server import RedisServer

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Desk:
    """A browser-like client of the desk: cookies, CSRF tokens, form posts."""

    def __init__(self, api: ApiHarness) -> None:
        self.api = api
        self.client = api.client
        self.csrf = ""

    def get(self, path: str) -> TestResponse:
        response = self.client.get(path)
        found = _CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, str], **headers: str) -> TestResponse:
        if not self.csrf:
            self.get("/desk/sign-in")
        return self.client.post(path, data={"csrf_token": self.csrf, **data}, headers=headers)

    def sign_in(self, role: str) -> TestResponse:
        self.get("/desk/sign-in")
        response = self.post("/desk/sign-in", {"token": self.api.tokens[role], "next": "/desk/"})
        assert response.status_code == 303, response.get_data(as_text=True)
        self.get("/desk/")
        return response


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, DATA_DIR=tmp_path)


@pytest.fixture
def desk(api: ApiHarness) -> Desk:
    return Desk(api)


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


class FieldAudit(HTMLParser):
    """Collects form controls and labels, to check that every control has a label."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)
        if tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))


def assert_labelled(html: str) -> int:
    audit = FieldAudit()
    audit.feed(html)
    for control in audit.controls:
        assert control.get("id") in audit.labels, f"no label for {control}"
    return len(audit.controls)


def test_without_public_read_the_desk_asks_to_sign_in(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    for path in ("/desk/", f"/desk/claims/{claim_id}", f"/desk/claims/{claim_id}/history"):
        response = desk.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/desk/sign-in?next=")
    assert desk.get(f"/desk/claims/{claim_id}/events").status_code == 401


def test_with_public_read_list_and_claim_render_without_signing_in(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed = viewed_api(tmp_path, views_server, PUBLIC_READ=True)
    api = viewed.api
    desk = Desk(api)
    claim_id = api.new_claim()
    viewed.project()
    listing = desk.get("/desk/")
    assert listing.status_code == 200
    assert "John Kerry personally asked" in text(listing)
    page = desk.get(f"/desk/claims/{claim_id}")
    assert page.status_code == 200
    assert "Sign in</a> with an editor token" in text(page)
    assert 'method="post" action="/desk/claims/' not in text(page)  # anonymous: no forms
    response = desk.post(f"/desk/claims/{claim_id}/denials", {"by.name": "x"})
    assert response.status_code == 302  # anonymous writes go to sign-in, nothing appended
    assert api.store.head() == 1


def test_sign_in_sets_a_hardened_cookie_that_holds_no_token(desk: Desk, api: ApiHarness) -> None:
    desk.get("/desk/sign-in")
    bad = desk.post("/desk/sign-in", {"token": "clt_not-a-token"})
    assert bad.status_code == 401
    assert "unknown, revoked or malformed" in text(bad)
    response = desk.post("/desk/sign-in", {"token": api.tokens["editor"], "next": "/desk/"})
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/desk" in cookie
    assert "Secure" not in cookie
    assert api.tokens["editor"] not in cookie
    page = desk.get("/desk/")
    assert "Signed in as <strong>editor-desk</strong> (editor)" in text(page)
    evil = desk.post("/desk/sign-in", {"token": api.tokens["editor"], "next": "//evil.example/"})
    assert evil.headers["Location"] == "/desk/"
    desk.get("/desk/")  # a new sign-in rotates the CSRF token
    signed_out = desk.post("/desk/sign-out", {})
    assert signed_out.status_code == 303
    assert desk.get("/desk/").status_code == 302


def test_a_cookie_copied_before_sign_out_is_refused_after_it(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    stolen = desk.client.get_cookie("claimledger_desk", path="/desk")
    assert stolen is not None
    copy = api.app.test_client()
    copy.set_cookie("claimledger_desk", stolen.value, path="/desk")
    assert copy.get(f"/desk/claims/{claim_id}").status_code == 200  # works while it lives
    assert desk.post("/desk/sign-out", {}).status_code == 303
    head = api.store.head()
    page = copy.get(f"/desk/claims/{claim_id}")
    assert page.status_code == 302  # to sign-in: the session ended on the server
    csrf = desk.csrf  # even with a CSRF token the session once had, nothing is appended
    note = copy.post(f"/desk/claims/{claim_id}/notes",
                     data={"csrf_token": csrf, "text": "after sign-out"})
    assert note.status_code in (302, 403)
    assert api.store.head() == head


def test_the_cookie_holds_only_an_opaque_session_id(desk: Desk, api: ApiHarness) -> None:
    desk.sign_in("editor")
    cookie = desk.client.get_cookie("claimledger_desk", path="/desk")
    assert cookie is not None
    payload = cookie.value.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert list(json.loads(decoded)) == ["sid"]


def test_the_cookie_is_secure_when_configured_and_the_secret_persists(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path, COOKIE_SECURE=True)
    desk = Desk(api)
    desk.get("/desk/sign-in")
    response = desk.post("/desk/sign-in", {"token": api.tokens["reader"]})
    assert "Secure" in response.headers["Set-Cookie"]
    secret = tmp_path / "desk-secret.key"
    assert secret.stat().st_mode & 0o777 == 0o600
    again = ApiHarness.create(tmp_path / "other", DATA_DIR=tmp_path)
    assert again.client.get("/desk/sign-in").status_code == 200
    assert len(secret.read_text().strip()) >= 32


def test_a_forged_post_is_rejected_and_appends_nothing(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    path = f"/desk/claims/{claim_id}/denials"
    form = {"by.name": "U.S. Department of State"}
    head = api.store.head()
    no_token = desk.client.post(path, data=form)
    wrong_token = desk.client.post(path, data={**form, "csrf_token": "forged"})
    other_site = desk.post(path, form, Origin="https://evil.example")
    for response in (no_token, wrong_token, other_site):
        assert response.status_code == 403
        assert "did not come from the desk" in text(response)
    assert api.store.head() == head
    assert desk.post(path, form).status_code == 303
    assert api.store.head() == head + 1


def test_forms_show_the_api_messages_beside_the_fields(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    head = api.store.head()
    response = desk.post(f"/desk/claims/{claim_id}/corroborations", {
        "appearance.url": "javascript:alert(1)", "occurred_at": "2014-02-30T12:00",
    })
    assert response.status_code == 422
    html = text(response)
    assert api.store.head() == head
    described = 'aria-describedby="corroborations-by-name-error-1"'
    assert f'id="corroborations-by-name" name="by.name" {described}' in html
    for field, message in (
        ("by-name", "Give the name of who corroborated the claim."),
        ("appearance-outlet", "Give the outlet where it appeared, e.g. Fars News Agency, or"
         " leave every appearance field empty."),
        ("appearance-url", "starting with http:// or https://, or leave it empty. (Not a valid"),
        ("occurred-at", "Give the date the corroboration was made, e.g. 16 Sep 2014 10:00."),
    ):
        found = re.search(rf'id="corroborations-{field}-error-1">([^<]*)<', html)
        assert found is not None, field
        assert message in found.group(1)
    assert 'aria-invalid="true"' in html
    assert 'role="alert"' in html
    assert 'id="form-corroborations" open' in html
    assert 'value="javascript:alert(1)"' in html  # what was typed comes back, escaped


SAMPLES: dict[str, dict[str, str]] = {
    "denials": {"by.name": "U.S. Department of State", "note": "Not welcome in the coalition."},
    "corroborations": {"by.name": "The New York Times", "appearance.outlet": "The New York Times",
                       "appearance.published_at": "2014-09-15T08:00:00-04:00"},
    "appearances": {"appearance.outlet": "Washington Free Beacon",
                    "appearance.url": "http://freebeacon.com/national-security/x"},
    "verdicts": {"scale": "standard", "value": "mostly-true", "explanation": "Partly confirmed."},
    "retractions": {"by.name": "Ali Khamenei", "note": "Withdrawn."},
    "notes": {"text": "Check the Persian transcript.\r\nTwo lines."},
}


@pytest.mark.parametrize("spec", ENTRY_FORMS, ids=lambda s: s.kind)
def test_every_form_appends_its_event_type(desk: Desk, api: ApiHarness, spec: Any) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    data = SAMPLES[spec.kind]
    response = desk.post(f"/desk/claims/{claim_id}/{spec.kind}", data)
    assert response.status_code == 303, text(response)
    event = api.store.read_claim(claim_id)[-1]
    assert event.type == spec.event_type
    assert event.actor == "token:editor-desk"
    assert response.headers["Location"].endswith(f"#event-{event.id}")
    assert "recorded as version 2" in text(desk.get(response.headers["Location"]))


def test_a_double_submitted_form_is_recorded_once(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("editor")
    form = {"by.name": "U.S. Department of State", "idempotency_key": "k" * 24}
    first = desk.post(f"/desk/claims/{claim_id}/denials", form)
    second = desk.post(f"/desk/claims/{claim_id}/denials", form)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(api.store.read_claim(claim_id)) == 2


def test_readers_see_no_forms_and_may_not_post(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    desk.sign_in("reader")
    page = text(desk.get(f"/desk/claims/{claim_id}"))
    assert "recording entries needs the editor role" in page
    assert "<form method=\"post\" action=\"/desk/claims/" not in page
    response = desk.post(f"/desk/claims/{claim_id}/denials", {"by.name": "x"})
    assert response.status_code == 403
    assert desk.get("/desk/new").status_code == 403


def test_recording_a_claim_from_the_desk(desk: Desk, api: ApiHarness) -> None:
    desk.sign_in("editor")
    form = desk.get("/desk/new")
    assert assert_labelled(text(form)) >= 10
    missing = desk.post("/desk/new", {"statement": "Iran rejected the request."})
    assert missing.status_code == 422
    assert "Claimant: name: Give the name of who made the claim." in text(missing)
    response = desk.post("/desk/new", {
        "statement": "Iran rejected the request.", "claimant.name": "Ali Khamenei",
        "appearance.outlet": "Fars News Agency", "tags": "iran, isil", "language": "en",
        "occurred_at": "2014-09-15 11:00",
    })
    assert response.status_code == 303
    claim_id = response.headers["Location"].rsplit("/", 1)[1]
    [event] = api.store.read_claim(claim_id)
    assert event.data["tags"] == ["iran", "isil"]
    assert event.occurred_at == "2014-09-15T11:00:00.000000Z"


def test_the_claim_page_draws_the_timeline_and_replays_as_of(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    denial = api.post(f"/v1/claims/{claim_id}/denials", DENIAL).get_json()
    api.post(f"/v1/claims/{claim_id}/corroborations", {"by": {"name": "The New York Times"}})
    api.post(f"/v1/claims/{claim_id}/corrections", {
        "target_event_id": denial["id"], "kind": "void", "reason": "Wrong claim."})
    desk.sign_in("editor")
    page = desk.get(f"/desk/claims/{claim_id}")
    html = text(page)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in html
    assert '<svg class="timeline"' in html
    assert 'class="mark denial shape-down voided"' in html
    assert 'class="mark corroboration shape-up"' in html
    assert 'class="strike"' in html
    assert 'class="link link-void"' in html
    assert "status-corroborated" in html
    assert assert_labelled(html) > 30
    replay = text(desk.get(f"/desk/claims/{claim_id}?as_of={denial['recorded_at']}"))
    assert "status-denied" in replay
    assert "2 of 4 entries" in replay
    assert "Record denial" not in replay
    before = text(desk.get(f"/desk/claims/{claim_id}?as_of=2000-01-01T00:00:00Z"))
    assert "Not yet recorded" in before
    bad = text(desk.get(f"/desk/claims/{claim_id}?as_of=yesterday"))
    assert 'id="as-of-error"' in bad
    assert "is not a date with a day, a month and a year" in bad
    assert desk.get("/desk/claims/00000000-0000-4000-8000-000000000000").status_code == 404


def test_the_history_is_verified_with_the_auditors_verifier(desk: Desk, api: ApiHarness) -> None:
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/verdicts", VERDICT)
    desk.sign_in("auditor")
    html = text(desk.get(f"/desk/claims/{claim_id}/history"))
    assert "<strong>Verified</strong>" in html
    for event in api.store.read_claim(claim_id):
        assert event.leaf_hash in html
        assert event.payload_sha256 in html


def test_the_list_filters_like_the_api(tmp_path: Path, views_server: RedisServer) -> None:
    viewed = viewed_api(tmp_path, views_server)
    api, desk = viewed.api, Desk(viewed.api)
    denied = api.new_claim(statement="Iran is not welcome in the coalition.")
    api.post(f"/v1/claims/{denied}/denials", DENIAL)
    api.new_claim(statement="Zarif rejected the request.", tags=["zarif"])
    viewed.project()
    desk.sign_in("reader")
    everything = text(desk.get("/desk/"))
    assert "Iran is not welcome" in everything
    assert "Zarif rejected" in everything
    only_denied = text(desk.get("/desk/?status=denied"))
    assert "Iran is not welcome" in only_denied
    assert "Zarif rejected" not in only_denied
    tagged = text(desk.get("/desk/?tag=zarif&claimant=ali+KHAMENEI"))
    assert "Zarif rejected" in tagged
    assert "Iran is not welcome" not in tagged
    assert assert_labelled(everything) == 6


def test_the_list_reads_the_views_and_says_so_when_they_cannot_answer(desk: Desk,
                                                                     api: ApiHarness) -> None:
    api.new_claim()
    desk.sign_in("reader")
    down = desk.get("/desk/")  # this app's Redis is a closed port
    assert down.status_code == 503
    assert "read from the views" in text(down)
    assert int(down.headers["Retry-After"]) >= 1


def test_a_list_row_is_the_claims_summary_however_long_the_claim(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed = viewed_api(tmp_path, views_server)
    api, desk = viewed.api, Desk(viewed.api)
    claim_id = api.new_claim()
    for i in range(30):
        assert api.post(f"/v1/claims/{claim_id}/notes", {"text": f"Note {i}."}).status_code == 201
    viewed.project()
    with api.app.app_context(), view_service().reading() as reader:
        summary = reader.get_summary(claim_id)
        items, _ = reader.list_claims(brief=True)
    assert summary is not None
    assert summary["counts"]["notes"] == 30
    assert "notes" not in summary
    assert items == [summary]
    desk.sign_in("reader")
    assert "John Kerry personally asked" in text(desk.get("/desk/?claimant=ali+khamenei"))
