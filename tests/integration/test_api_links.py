"""Claim links through the API, on SQLite and PostgreSQL: ``POST /v1/claims/{id}/links``,
their rules, voids and corrections, the state that shows them, and ClaimReview's
``sameAs``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.integration.test_claimreview import check_claim_review
from tests.support.api_harness import VERDICT, ApiHarness, assert_problem


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> ApiHarness:
    """The app on SQLite, and on a fresh PostgreSQL schema (the store enforces the rules)."""
    config: dict[str, str] = {"PUBLIC_URL": "https://ledger.example"}
    if request.param == "postgresql":
        config["DATABASE_URL"] = request.getfixturevalue("postgres_urls")()
    return ApiHarness.create(tmp_path, **config)


def test_a_link_is_appended_to_the_claim_that_links_and_shown_in_its_state(
    api: ApiHarness,
) -> None:
    kerry, sherman = api.new_claim(), api.new_claim(statement="Sherman asked Araqchi.")
    response = api.post(f"/v1/claims/{sherman}/links", {
        "target_claim_id": kerry.upper(), "kind": "restates", "note": "Same account.",
        "occurred_at": "2014-09-15T12:00:00+02:00",
    })
    assert response.status_code == 201, response.get_json()
    event = response.get_json()
    assert (event["type"], event["claim_id"], event["version"]) == ("ClaimLinked", sherman, 2)
    assert event["data"] == {"target_claim_id": kerry, "kind": "restates", "note": "Same account."}
    state = api.get(f"/v1/claims/{sherman}").get_json()
    assert state["links"] == [{
        "event_id": event["id"], "target_claim_id": kerry, "kind": "restates",
        "note": "Same account.", "occurred_at": "2014-09-15T10:00:00.000000Z",
    }]
    assert state["status"] == "unverified"
    assert state["counts"]["corroborations"] == 0
    assert api.get(f"/v1/claims/{kerry}").get_json()["links"] == []


@pytest.mark.parametrize(
    ("payload", "field", "status"),
    [
        ({"target_claim_id": str(uuid.uuid4()), "kind": "same-as"}, "target_claim_id", 422),
        ({"target_claim_id": "{self}", "kind": "same-as"}, "target_claim_id", 422),
        ({"target_claim_id": "{other}", "kind": "echoes"}, "kind", 422),
        ({"target_claim_id": "42", "kind": "same-as"}, "target_claim_id", 422),
        ({"kind": "same-as"}, "target_claim_id", 422),
        ({"target_claim_id": "{other}", "kind": "same-as", "weight": 3}, "weight", 422),
    ],
)
def test_a_bad_link_is_a_problem_naming_the_field_and_writes_nothing(
    api: ApiHarness, payload: dict[str, object], field: str, status: int
) -> None:
    claim, other = api.new_claim(), api.new_claim()
    head = api.store.head()
    filled = {k: v.format(self=claim, other=other) if isinstance(v, str) else v
              for k, v in payload.items()}
    assert_problem(api.post(f"/v1/claims/{claim}/links", filled), status, field)
    assert api.store.head() == head


def test_linking_from_a_claim_that_does_not_exist_is_404(api: ApiHarness) -> None:
    other = api.new_claim()
    missing = str(uuid.uuid4())
    response = api.post(f"/v1/claims/{missing}/links", {"target_claim_id": other,
                                                         "kind": "same-as"})
    assert_problem(response, 404)


def test_a_link_is_voided_or_corrected_like_any_entry_but_not_repointed(api: ApiHarness) -> None:
    claim, first, second = api.new_claim(), api.new_claim(), api.new_claim()
    voided = api.post(f"/v1/claims/{claim}/links", {"target_claim_id": first, "kind": "same-as"})
    kept = api.post(f"/v1/claims/{claim}/links", {"target_claim_id": second,
                                                  "kind": "responds-to"})
    corrections = f"/v1/claims/{claim}/corrections"
    assert api.post(corrections, {"target_event_id": voided.get_json()["id"], "kind": "void",
                                  "reason": "Not the same claim."}).status_code == 201
    assert api.post(corrections, {"target_event_id": kept.get_json()["id"], "kind": "correction",
                                  "changes": {"kind": "contradicts"},
                                  "reason": "It denies it."}).status_code == 201
    repoint = {"target_event_id": kept.get_json()["id"], "kind": "correction",
               "changes": {"target_claim_id": first}, "reason": "Wrong claim."}
    assert_problem(api.post(corrections, repoint), 422, "changes.target_claim_id")
    [link] = api.get(f"/v1/claims/{claim}").get_json()["links"]
    assert (link["target_claim_id"], link["kind"]) == (second, "contradicts")
    assert voided.get_json()["id"] in api.get(f"/v1/claims/{claim}").get_json()["voided_event_ids"]


def test_a_same_as_link_is_the_claims_same_as_in_its_claim_review(api: ApiHarness) -> None:
    claim, twin, answer = api.new_claim(), api.new_claim(), api.new_claim()
    api.post(f"/v1/claims/{claim}/links", {"target_claim_id": twin, "kind": "same-as"})
    api.post(f"/v1/claims/{claim}/links", {"target_claim_id": answer, "kind": "responds-to"})
    api.post(f"/v1/claims/{claim}/verdicts", VERDICT)
    review = json.loads(api.get(f"/v1/claims/{claim}/claimreview", "reader").get_data())
    check_claim_review(review)
    assert review["itemReviewed"]["sameAs"] == [f"https://ledger.example/desk/claims/{twin}"]
    api.post(f"/v1/claims/{twin}/verdicts", VERDICT)
    alone = json.loads(api.get(f"/v1/claims/{twin}/claimreview", "reader").get_data())
    assert "sameAs" not in alone["itemReviewed"]  # a link shows in its own claim's review


def test_the_openapi_document_describes_the_links_endpoint(api: ApiHarness) -> None:
    spec = api.get("/openapi.json", None).get_json()
    post = spec["paths"]["/v1/claims/{claim_id}/links"]["post"]
    assert "201" in post["responses"]
    assert "422" in post["responses"]
    body = spec["components"]["schemas"]["NewLink"]
    assert body["properties"]["kind"]["enum"] == [
        "same-as", "restates", "responds-to", "contradicts"]
    listing = spec["paths"]["/v1/claims"]["get"]["parameters"]
    assert any(p["name"] == "linked_to" for p in listing)


def test_a_repeated_link_is_refused_and_writes_nothing(api: ApiHarness) -> None:
    claim, twin = api.new_claim(), api.new_claim()
    link = {"target_claim_id": twin, "kind": "same-as"}
    first = api.post(f"/v1/claims/{claim}/links", link)
    assert first.status_code == 201
    head = api.store.head()
    # a retried request, a second click, the other id written in capitals
    for again in (link, {**link, "target_claim_id": twin.upper(), "note": "Again."}):
        problem = assert_problem(api.post(f"/v1/claims/{claim}/links", again), 422,
                                 "target_claim_id")
        assert first.get_json()["id"] in problem["errors"]["target_claim_id"][0]
    assert api.store.head() == head
    # another kind to the same claim is another link; one kind may not be corrected into
    # a repeat; a voided link may be made again
    other = api.post(f"/v1/claims/{claim}/links", {**link, "kind": "responds-to"})
    assert other.status_code == 201
    corrections = f"/v1/claims/{claim}/corrections"
    assert_problem(api.post(corrections, {
        "target_event_id": other.get_json()["id"], "kind": "correction",
        "changes": {"kind": "same-as"}, "reason": "It is the same claim."}), 422, "changes.kind")
    assert api.store.head() == head + 1
    assert api.post(corrections, {"target_event_id": first.get_json()["id"], "kind": "void",
                                  "reason": "Linked by mistake."}).status_code == 201
    assert api.post(f"/v1/claims/{claim}/links", link).status_code == 201
    api.post(f"/v1/claims/{claim}/verdicts", VERDICT)
    review = json.loads(api.get(f"/v1/claims/{claim}/claimreview", "reader").get_data())
    assert review["itemReviewed"]["sameAs"] == [f"https://ledger.example/desk/claims/{twin}"]


def test_two_same_links_in_one_import_are_refused_and_nothing_is_written(
    api: ApiHarness,
) -> None:
    claim, twin = api.new_claim(), api.new_claim()
    head = api.store.head()
    line = json.dumps({"claim_id": claim, "type": "ClaimLinked",
                       "data": {"target_claim_id": twin, "kind": "restates"}})
    response = api.client.post("/v1/imports", data=f"{line}\n{line}\n",
                               content_type="application/x-ndjson", headers=api.auth("editor"))
    problem = assert_problem(response, 422)
    assert "target_claim_id" in json.dumps(problem["errors"])
    assert api.store.head() == head


def test_a_link_to_a_voided_or_redacted_claim_is_refused_and_an_older_one_shows_no_text(
    api: ApiHarness,
) -> None:
    claim = api.new_claim()
    withdrawn = api.new_claim(statement="Rouhani resigned this morning.")
    removed = api.new_claim(statement="The informant's name is Farid Behzadi.")
    older = api.post(f"/v1/claims/{claim}/links", {"target_claim_id": removed,
                                                   "kind": "responds-to"})
    assert older.status_code == 201

    def recorded(claim_id: str) -> str:
        return str(api.get(f"/v1/claims/{claim_id}/history").get_json()["events"][0]["id"])

    assert api.post(f"/v1/claims/{withdrawn}/corrections", {
        "target_event_id": recorded(withdrawn), "kind": "void",
        "reason": "Recorded by mistake."}).status_code == 201
    api.store.redact(recorded(removed), actor="test", reason="Names a source.")
    head = api.store.head()
    voided = assert_problem(api.post(f"/v1/claims/{claim}/links", {
        "target_claim_id": withdrawn, "kind": "same-as"}), 422, "target_claim_id")
    assert voided["errors"]["target_claim_id"][0].startswith("Voided")
    redacted = assert_problem(api.post(f"/v1/claims/{claim}/links", {
        "target_claim_id": removed, "kind": "same-as"}), 422, "target_claim_id")
    assert redacted["errors"]["target_claim_id"][0].startswith("Redacted")
    assert api.store.head() == head
    # the link made before the redaction stays, and carries none of the removed text
    state = api.get(f"/v1/claims/{claim}")
    assert [x["target_claim_id"] for x in state.get_json()["links"]] == [removed]
    assert "Behzadi" not in state.get_data(as_text=True)
