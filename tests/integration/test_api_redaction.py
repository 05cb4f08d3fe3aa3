"""Redacted claims through the API and the desk on a real SQLite file: no 500s, no text,
ClaimReview as documented and ETags that change with a redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.desk_support import viewed_api, views_server_fixture  # noqa: F401
from tests.integration.test_desk_pages import Desk
from tests.support.api_harness import DENIAL, VERDICT, ApiHarness, assert_problem, body
from tests.support.redis_server import RedisServer

SECRET = "Zeta-7-source-in-Tehran"


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, DATA_DIR=tmp_path)


def secret_claim(api: ApiHarness) -> tuple[str, list[str]]:
    """A claim whose statement, denial and verdict carry the secret; its id and event ids."""
    claim_id = api.new_claim(statement=f"{SECRET} told Fars so.", tags=["zeta"])
    denial = api.post(f"/v1/claims/{claim_id}/denials", body(DENIAL, note=f"{SECRET} denies."))
    verdict = api.post(f"/v1/claims/{claim_id}/verdicts",
                       body(VERDICT, explanation=f"Rated from {SECRET}."))
    assert denial.status_code == verdict.status_code == 201
    history = api.get(f"/v1/claims/{claim_id}/history").get_json()["events"]
    return claim_id, [e["id"] for e in history]


def redact(api: ApiHarness, event_id: str) -> None:
    api.store.redact(event_id, actor="legal@example.org", reason="Court order 14-223.")


def test_a_redacted_claim_recorded_leaves_every_desk_page_answering_without_its_text(
    tmp_path: Path, views_server: RedisServer,
) -> None:
    viewed = viewed_api(tmp_path, views_server)  # the desk's list reads the views
    api = viewed.api
    claim_id, events = secret_claim(api)
    api.new_claim()  # the list shows another claim beside it
    for event_id in events:
        redact(api, event_id)
    viewed.project()
    desk = Desk(api)
    desk.sign_in("editor")
    for path in ("/desk/", f"/desk/claims/{claim_id}", f"/desk/claims/{claim_id}/history",
                 "/desk/?tag=zeta", f"/desk/claims/{claim_id}?as_of=2100-01-01T00:00:00Z"):
        page = desk.get(path)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, (path, html[:300])
        assert SECRET not in html, path
    assert "[redacted]" in desk.get(f"/desk/claims/{claim_id}").get_data(as_text=True)
    listed = desk.get("/desk/").get_data(as_text=True)
    assert "[redacted]" in listed
    assert "John Kerry personally asked" in listed


def test_a_redacted_denial_alone_keeps_the_claim_page_and_shows_it_redacted(
    api: ApiHarness,
) -> None:
    claim_id, events = secret_claim(api)
    redact(api, events[1])
    desk = Desk(api)
    desk.sign_in("reader")
    page = desk.get(f"/desk/claims/{claim_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:300]
    assert f"{SECRET} denies" not in html
    assert "[redacted]" in html


def test_claimreview_of_a_claim_whose_verdict_was_redacted_is_a_404_no_verdict(
    api: ApiHarness,
) -> None:
    claim_id, events = secret_claim(api)
    assert api.get(f"/v1/claims/{claim_id}/claimreview", "reader").status_code == 200
    redact(api, events[2])
    problem = assert_problem(api.get(f"/v1/claims/{claim_id}/claimreview", "reader"), 404)
    assert problem["type"].endswith("/no-verdict")
    state = api.get(f"/v1/claims/{claim_id}").get_json()
    assert state["verdict"] is None
    assert state["redacted_event_ids"] == [events[2]]


def test_claimreview_of_a_claim_whose_statement_was_redacted_is_a_404_no_verdict(
    api: ApiHarness,
) -> None:
    claim_id, events = secret_claim(api)
    redact(api, events[0])
    problem = assert_problem(api.get(f"/v1/claims/{claim_id}/claimreview", "reader"), 404)
    assert problem["type"].endswith("/no-verdict")


def test_a_redaction_changes_the_etag_of_the_claim_its_history_and_review(
    api: ApiHarness,
) -> None:
    claim_id, events = secret_claim(api)
    paths = [f"/v1/claims/{claim_id}", f"/v1/claims/{claim_id}/history"]
    before = {path: api.get(path).headers["ETag"] for path in paths}
    assert set(before.values()) == {'"3"'}
    redact(api, events[1])
    for path in paths:
        again = api.get(path, **{"If-None-Match": before[path]})
        assert again.status_code == 200, path
        assert again.headers["ETag"] == '"3-r1"'
        assert SECRET + " denies" not in again.get_data(as_text=True)
        assert api.get(path, **{"If-None-Match": '"3-r1"'}).status_code == 304
    review = api.get(f"/v1/claims/{claim_id}/claimreview", "reader")
    assert review.headers["ETag"] == '"3-r1"'


def test_if_match_accepts_a_redacted_claims_etag_as_naming_its_version(
    api: ApiHarness,
) -> None:
    claim_id, events = secret_claim(api)
    redact(api, events[1])
    tag = api.get(f"/v1/claims/{claim_id}").headers["ETag"]
    assert tag == '"3-r1"'
    appended = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"If-Match": tag})
    assert appended.status_code == 201, appended.get_json()
    stale = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"If-Match": tag})
    assert_problem(stale, 412)
