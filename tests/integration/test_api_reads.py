"""Reads: a claim's state (now, as of, valid at), its history, and the global feed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.fold import fold
from tests.support.api_harness import (
    CORROBORATION,
    DENIAL,
    VERDICT,
    ApiHarness,
    assert_problem,
    body,
)


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path)


def test_the_state_is_the_fold_of_the_log_with_its_version_as_etag(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)
    api.post(f"/v1/claims/{claim_id}/corroborations", CORROBORATION)
    api.post(f"/v1/claims/{claim_id}/verdicts", VERDICT)
    response = api.get(f"/v1/claims/{claim_id}", role="reader")
    assert response.status_code == 200
    state = response.get_json()
    assert state == fold(api.store.read_claim(claim_id))
    assert state["status"] == "disputed"
    assert state["verdict"]["label"] == "Mostly true"
    assert state["counts"] == {"corroborations": 1, "denials": 1, "appearances": 1}
    assert response.headers["ETag"] == '"4"'
    assert response.headers["Cache-Control"] == "no-store"


def test_if_none_match_with_the_current_etag_answers_304(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    for path in (f"/v1/claims/{claim_id}", f"/v1/claims/{claim_id}/history"):
        unchanged = api.get(path, **{"If-None-Match": '"1"'})
        assert unchanged.status_code == 304
        assert unchanged.headers["ETag"] == '"1"'
        assert api.get(path, **{"If-None-Match": 'W/"1"'}).status_code == 304
        assert api.get(path, **{"If-None-Match": '"7", "8"'}).status_code == 200
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)
    assert api.get(f"/v1/claims/{claim_id}", **{"If-None-Match": '"1"'}).status_code == 200


def test_as_of_replays_what_the_ledger_said_then(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    first = api.store.read_claim(claim_id)[0].recorded_at
    denial = api.post(f"/v1/claims/{claim_id}/denials", DENIAL).get_json()
    before = api.get(f"/v1/claims/{claim_id}?as_of={first}")
    assert before.status_code == 200
    assert before.get_json()["status"] == "unverified"
    assert "ETag" not in before.headers
    now = api.get(f"/v1/claims/{claim_id}?as_of={denial['recorded_at']}").get_json()
    assert now["status"] == "denied"
    past = datetime.now(UTC) - timedelta(days=3650)
    assert_problem(api.get(f"/v1/claims/{claim_id}?as_of={past:%Y-%m-%dT%H:%M:%SZ}"), 404)


def test_valid_at_replays_what_had_happened_in_the_world(api: ApiHarness) -> None:
    claim_id = api.new_claim()  # occurred 2014-09-15T04:00Z
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)  # 14:00Z
    api.post(f"/v1/claims/{claim_id}/corroborations", CORROBORATION)  # 12:00Z
    midday = api.get(f"/v1/claims/{claim_id}?valid_at=2014-09-15T13:00:00%2B00:00").get_json()
    assert midday["status"] == "corroborated"
    evening = api.get(f"/v1/claims/{claim_id}?valid_at=2014-09-15T18:00:00Z").get_json()
    assert evening["status"] == "disputed"
    assert_problem(api.get(f"/v1/claims/{claim_id}?valid_at=2014-09-14T00:00:00Z"), 404)


@pytest.mark.parametrize(
    "query",
    [
        "as_of=yesterday",
        "as_of=2014-09-15T08:30:00",  # no zone
        "as_of=2014-13-40T00:00:00Z",
        "valid_at=2014-09-15T25:00:00Z",
        "valid_at=" + "9" * 100,
    ],
)
def test_invalid_times_are_422_by_parameter(api: ApiHarness, query: str) -> None:
    claim_id = api.new_claim()
    name = query.split("=")[0]
    assert_problem(api.get(f"/v1/claims/{claim_id}?{query}"), 422, name)


def test_history_lists_envelopes_in_version_order(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)
    api.post(f"/v1/claims/{claim_id}/notes", {"text": "Follow up with Tehran bureau."})
    response = api.get(f"/v1/claims/{claim_id}/history", role="reader")
    history = response.get_json()
    assert history["claim_id"] == claim_id
    assert [e["version"] for e in history["events"]] == [1, 2, 3]
    assert history["events"] == [e.to_json() for e in api.store.read_claim(claim_id)]
    assert response.headers["ETag"] == '"3"'
    cut = history["events"][1]["recorded_at"]
    older = api.get(f"/v1/claims/{claim_id}/history?as_of={cut}").get_json()
    assert [e["version"] for e in older["events"]] == [1, 2]


def test_unknown_claims_are_404_problems(api: ApiHarness) -> None:
    missing = uuid.uuid4()
    problem = assert_problem(api.get(f"/v1/claims/{missing}"), 404)
    assert problem["type"].endswith("/claim-not-found")
    assert_problem(api.get(f"/v1/claims/{missing}/history"), 404)
    assert_problem(api.get("/v1/claims/12345"), 404)
    assert api.get(f"/v1/claims/{str(missing).upper()}").status_code == 404


def test_the_feed_pages_through_every_event_by_position(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    for n in range(4):
        api.post(f"/v1/claims/{claim_id}/notes", {"text": f"note {n}"})
    seen: list[int] = []
    after = 0
    while True:
        page = api.get(f"/v1/events?after={after}&limit=2", role="auditor").get_json()
        if not page["items"]:
            assert page["next_after"] == after
            break
        seen += [e["position"] for e in page["items"]]
        after = page["next_after"]
    assert seen == [1, 2, 3, 4, 5]
    default = api.get("/v1/events", role="auditor").get_json()
    assert len(default["items"]) == 5
    assert default["next_after"] == 5


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "after=-1", "after=x", "after=99999999999999999999999"]
)
def test_feed_parameters_are_bounded(api: ApiHarness, query: str) -> None:
    assert_problem(api.get(f"/v1/events?{query}", role="auditor"), 422, query.split("=")[0])


def test_a_verdict_keeps_its_scale_label_and_ratings(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/verdicts", body(VERDICT, value="false"))
    verdict = api.get(f"/v1/claims/{claim_id}").get_json()["verdict"]
    assert (verdict["label"], verdict["rating"], verdict["best_rating"]) == ("False", 1, 5)
