"""Every write endpoint: 201 with the envelope, Location and ETag; what the ledger refuses."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.support.api_harness import (
    CLAIM,
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


ENTRY_WRITES = [
    ("appearances", "AppearanceAdded", {"appearance": {"outlet": "Press TV"}}),
    ("corroborations", "ClaimCorroborated", CORROBORATION),
    ("denials", "ClaimDenied", DENIAL),
    ("retractions", "ClaimRetracted", {"by": {"name": "Ali Khamenei"}, "note": "Withdrawn."}),
    ("verdicts", "VerdictIssued", VERDICT),
    ("notes", "NoteAdded", {"text": "Check the Persian transcript."}),
]


def test_recording_a_claim_answers_201_with_the_envelope_location_and_etag(
    api: ApiHarness,
) -> None:
    response = api.post("/v1/claims", CLAIM)
    assert response.status_code == 201
    event = response.get_json()
    assert event["type"] == "ClaimRecorded"
    assert event["version"] == 1
    assert event["position"] == 1
    assert response.headers["Location"] == f"/v1/claims/{event['claim_id']}"
    assert response.headers["ETag"] == '"1"'
    assert event["actor"] == "token:editor-desk"
    assert event["occurred_at"] == "2014-09-15T04:00:00.000000Z"  # normalised to UTC
    assert event["data"]["appearance"]["published_at"] == "2014-09-15T04:30:00.000000Z"
    assert "occurred_at" not in event["data"]
    assert event["metadata"]["request_id"] == response.headers["X-Request-Id"]
    assert len(event["leaf_hash"]) == 64
    assert event["prev_hash"] is None
    assert api.store.get_event(event["id"]) is not None


@pytest.mark.parametrize(("path", "event_type", "payload"), ENTRY_WRITES)
def test_each_entry_write_appends_its_event_type(
    api: ApiHarness, path: str, event_type: str, payload: dict[str, object]
) -> None:
    claim_id = api.new_claim()
    response = api.post(f"/v1/claims/{claim_id}/{path}", payload)
    assert response.status_code == 201, response.get_json()
    event = response.get_json()
    assert (event["type"], event["claim_id"], event["version"]) == (event_type, claim_id, 2)
    assert response.headers["ETag"] == '"2"'
    assert response.headers["Location"] == f"/v1/claims/{claim_id}"
    assert event["prev_hash"] == api.store.read_claim(claim_id)[0].leaf_hash


def test_occurred_at_defaults_to_recorded_at(api: ApiHarness) -> None:
    event = api.post("/v1/claims", body(CLAIM, occurred_at=None)).get_json()
    assert event["occurred_at"] == event["recorded_at"]


def test_a_request_id_given_by_the_client_is_kept(api: ApiHarness) -> None:
    response = api.post("/v1/claims", CLAIM, **{"X-Request-Id": "desk-42"})
    assert response.headers["X-Request-Id"] == "desk-42"
    assert response.get_json()["metadata"]["request_id"] == "desk-42"


def test_a_verdict_must_be_on_its_scale(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    response = api.post(f"/v1/claims/{claim_id}/verdicts", body(VERDICT, value="pants-on-fire"))
    assert_problem(response, 422, "value")
    response = api.post(f"/v1/claims/{claim_id}/verdicts", body(VERDICT, scale="nope"))
    assert_problem(response, 422, "scale")


def test_a_void_correction_is_checked_against_the_claim(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    denial = api.post(f"/v1/claims/{claim_id}/denials", DENIAL).get_json()
    void = {"target_event_id": denial["id"], "kind": "void", "reason": "Logged twice."}
    assert api.post(f"/v1/claims/{claim_id}/corrections", void).status_code == 201
    state = api.get(f"/v1/claims/{claim_id}").get_json()
    assert state["status"] == "unverified"
    assert denial["id"] in state["voided_event_ids"]
    assert_problem(api.post(f"/v1/claims/{claim_id}/corrections", void), 422, "target_event_id")


def test_a_correction_changes_only_fields_of_its_target(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    recorded = api.store.read_claim(claim_id)[0]
    fix = {
        "target_event_id": recorded.id,
        "kind": "correction",
        "changes": {"statement": "Kerry asked Iran to cooperate against ISIL."},
        "reason": "Closer to the quote.",
    }
    assert api.post(f"/v1/claims/{claim_id}/corrections", fix).status_code == 201
    state = api.get(f"/v1/claims/{claim_id}").get_json()
    assert state["statement"] == "Kerry asked Iran to cooperate against ISIL."
    bad = body(fix, changes={"verdict": "true"})
    assert_problem(api.post(f"/v1/claims/{claim_id}/corrections", bad), 422, "changes.verdict")
    blank = body(fix, changes={"statement": ""})
    assert_problem(api.post(f"/v1/claims/{claim_id}/corrections", blank), 422)


def test_a_correction_cannot_target_another_claims_event_or_a_correction(
    api: ApiHarness,
) -> None:
    first, second = api.new_claim(), api.new_claim()
    other = api.store.read_claim(second)[0].id
    fix = {"target_event_id": other, "kind": "clarification", "reason": "Context."}
    assert_problem(api.post(f"/v1/claims/{first}/corrections", fix), 422, "target_event_id")
    own = api.store.read_claim(first)[0].id
    clarification = api.post(f"/v1/claims/{first}/corrections", body(fix, target_event_id=own))
    assert clarification.status_code == 201
    again = body(fix, target_event_id=clarification.get_json()["id"])
    assert_problem(api.post(f"/v1/claims/{first}/corrections", again), 422, "target_event_id")


def test_a_related_claim_must_exist(api: ApiHarness) -> None:
    claim_id, related = api.new_claim(), api.new_claim()
    linked = api.post(f"/v1/claims/{claim_id}/denials", body(DENIAL, related_claim_id=related))
    assert linked.status_code == 201
    dangling = body(DENIAL, related_claim_id=str(uuid.uuid4()))
    assert_problem(api.post(f"/v1/claims/{claim_id}/denials", dangling), 422, "related_claim_id")


def test_writes_to_unknown_or_malformed_claims_are_404(api: ApiHarness) -> None:
    head = api.store.head()
    assert_problem(api.post(f"/v1/claims/{uuid.uuid4()}/denials", DENIAL), 404)
    assert_problem(api.post("/v1/claims/not-a-uuid/denials", DENIAL), 404)
    assert_problem(api.post("/v1/claims/../../etc/passwd/denials", DENIAL), 404)
    assert api.store.head() == head


def test_validation_errors_name_every_field_path(api: ApiHarness) -> None:
    bad = body(
        CLAIM,
        statement=" ",
        claimant={"name": "x\u0000y", "same_as": "not a uri"},
        tags=["Iran", "iran"],
        occurred_at="2014-09-15T08:30:00",
        extra="field",
    )
    problem = assert_problem(
        api.post("/v1/claims", bad),
        422,
        "statement",
        "claimant.name",
        "claimant.same_as",
        "tags.0",
        "occurred_at",
        "extra",
    )
    assert problem["type"].endswith("/validation-failed")
    missing = assert_problem(api.post("/v1/claims", {"statement": "Only this."}), 422)
    assert {"claimant", "appearance"} <= set(missing["errors"])
    assert api.store.head() == 0
