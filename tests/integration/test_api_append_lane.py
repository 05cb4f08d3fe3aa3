"""The append lane answers plain entry appends exactly as the Flask views would.

Every entry endpoint is posted twice with the same body and request id, once through
the lane and once straight to Flask (the lane's inner app); the answers must match
field by field. Whatever the lane does not take (no token, bad bodies or headers,
rate limits or CORS on) is answered by Flask; errors raised by the store after the lane
tried the append are worded by the app's own handlers, and none of them writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from api.fastlane import AppendLane
from tests.support.api_harness import (
    APPEARANCE,
    CORROBORATION,
    DENIAL,
    VERDICT,
    ApiHarness,
    assert_problem,
)

#: the entries and a body for each (corrections target the claim's first event)
ENTRIES: list[tuple[str, dict[str, Any]]] = [
    ("appearances", APPEARANCE),
    ("corroborations", CORROBORATION),
    ("denials", DENIAL),
    ("verdicts", VERDICT),
    ("notes", {"text": "Checked with the Tehran bureau."}),
    ("corrections", {"target_event_id": "{first}", "kind": "clarification", "reason": "Context."}),
    ("retractions", {"by": {"name": "Fars"}, "occurred_at": "2014-09-16T08:00:00Z"}),
    ("links", {"target_claim_id": "{other}", "kind": "restates", "note": "Same account."}),
]
#: envelope fields that differ between two claims given the same entry
PER_CLAIM = {"id", "claim_id", "position", "recorded_at", "leaf_hash", "prev_hash"}


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path)


def lane_of(api: ApiHarness) -> AppendLane:
    lane = api.app.wsgi_app
    assert isinstance(lane, AppendLane)
    return lane


def straight_to_flask(api: ApiHarness) -> Client:
    """A client of the app behind the lane."""
    return Client(lane_of(api).wsgi_app, TestResponse)


def first_event(api: ApiHarness, claim_id: str) -> str:
    history = api.get(f"/v1/claims/{claim_id}/history").get_json()
    event_id: str = history["events"][0]["id"]
    return event_id


def post(client: Any, api: ApiHarness, claim_id: str, entry: str, payload: dict[str, Any],
         **headers: str) -> TestResponse:
    if "target_event_id" in payload:
        payload = {**payload, "target_event_id": first_event(api, claim_id)}
    response: TestResponse = client.post(
        f"/v1/claims/{claim_id}/{entry}", json=payload,
        headers={**api.auth("editor"), "X-Request-Id": "same-request", **headers},
    )
    return response


def head(api: ApiHarness) -> int:
    return api.store.head()


@pytest.mark.parametrize(("entry", "payload"), ENTRIES, ids=[e for e, _ in ENTRIES])
def test_the_lane_answers_each_entry_as_flask_does(
    api: ApiHarness, entry: str, payload: dict[str, Any]
) -> None:
    lane = lane_of(api)
    if payload.get("target_claim_id") == "{other}":  # both link to one third claim
        payload = {**payload, "target_claim_id": api.new_claim()}
    mine, theirs = api.new_claim(), api.new_claim()
    served = lane.served
    by_lane = post(api.client, api, mine, entry, payload)
    assert lane.served == served + 1
    by_flask = post(straight_to_flask(api), api, theirs, entry, payload)
    assert lane.served == served + 1

    assert (by_lane.status, by_flask.status) == ("201 CREATED", "201 CREATED")
    names = [name for name, _ in by_lane.headers]
    assert names == [name for name, _ in by_flask.headers]
    for name in names:
        if name == "Location":
            assert by_lane.headers[name] == f"/v1/claims/{mine}"
            assert by_flask.headers[name] == f"/v1/claims/{theirs}"
        else:
            assert by_lane.headers[name] == by_flask.headers[name], name
    lane_event, flask_event = by_lane.get_json(), by_flask.get_json()
    assert list(lane_event) == list(flask_event)
    assert lane_event["claim_id"] == mine
    volatile = set(PER_CLAIM)
    if "occurred_at" not in payload:
        volatile.add("occurred_at")  # the time of recording, by default
    if "target_event_id" in payload:
        volatile.add("payload_sha256")  # each correction names its own claim's event
    for field in set(lane_event) - volatile:
        if field == "data" and "target_event_id" in lane_event["data"]:
            lane_event["data"].pop("target_event_id")
            flask_event["data"].pop("target_event_id")
        assert lane_event[field] == flask_event[field], field
    history = api.get(f"/v1/claims/{mine}/history").get_json()["events"]
    assert history[-1] == by_lane.get_json()


def test_an_idempotent_repeat_is_answered_by_the_lane_and_writes_nothing(api: ApiHarness) -> None:
    lane = lane_of(api)
    claim_id = api.new_claim()
    note = {"text": "Checked."}
    first = post(api.client, api, claim_id, "notes", note, **{"Idempotency-Key": "k-1"})
    before, served = head(api), lane.served
    again = post(api.client, api, claim_id, "notes", note, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert (head(api), lane.served) == (before, served + 1)
    other = post(api.client, api, claim_id, "notes", {"text": "Other."},
                 **{"Idempotency-Key": "k-1"})
    assert_problem(other, 409)
    assert (head(api), lane.served) == (before, served + 1)


def test_an_idempotency_key_used_through_flask_is_replayed_by_the_lane(api: ApiHarness) -> None:
    lane = lane_of(api)
    claim_id = api.new_claim()
    key = {"Idempotency-Key": "k-2"}
    first = post(straight_to_flask(api), api, claim_id, "denials", DENIAL, **key)
    before, served = head(api), lane.served
    again = post(api.client, api, claim_id, "denials", DENIAL, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert (head(api), lane.served) == (before, served + 1)


def test_store_errors_are_worded_by_the_app_with_its_headers(api: ApiHarness) -> None:
    lane = lane_of(api)
    claim_id = api.new_claim()
    before, served = head(api), lane.served
    stale = post(api.client, api, claim_id, "notes", {"text": "x"}, **{"If-Match": '"7"'})
    problem = assert_problem(stale, 412)
    assert "version" in problem["detail"]
    assert stale.headers["X-Request-Id"] == "same-request"
    assert stale.headers["Cache-Control"] == "no-store"
    unknown = post(api.client, api, "0190a000-0000-7000-8000-000000000000", "notes",
                   {"text": "x"})
    assert_problem(unknown, 404)
    assert (head(api), lane.served) == (before, served)
    metrics = api.client.get("/metrics").get_data(as_text=True)
    route = 'route="/v1/claims/<uuid:claim_id>/notes"'
    assert any(route in line and 'status="412"' in line and line.endswith(" 1.0")
               for line in metrics.splitlines()), "the 412 is counted once"


@pytest.mark.parametrize(
    ("name", "headers", "raw", "content_type", "status"),
    [
        ("no token", {"Authorization": ""}, b'{"text": "x"}', "application/json", 401),
        ("a reader's token", "reader", b'{"text": "x"}', "application/json", 403),
        ("malformed JSON", None, b'{"text": ', "application/json", 400),
        ("text/plain", None, b'{"text": "x"}', "text/plain", 415),
        ("an unknown field", None, b'{"text": "x", "verdict": "true"}', "application/json", 422),
        ("a JSON array", None, b"[1]", "application/json", 422),
        ("garbage If-Match", {"If-Match": "3"}, b'{"text": "x"}', "application/json", 400),
        ("a long Idempotency-Key", {"Idempotency-Key": "k" * 201}, b'{"text": "x"}',
         "application/json", 400),
    ],
)
def test_requests_the_lane_leaves_alone_get_flask_s_problem_and_write_nothing(
    api: ApiHarness, name: str, headers: Any, raw: bytes, content_type: str, status: int
) -> None:
    lane = lane_of(api)
    claim_id = api.new_claim()
    sent = api.auth("reader") if headers == "reader" else {**api.auth("editor"), **(headers or {})}
    sent = {k: v for k, v in sent.items() if v}
    before, served = head(api), lane.served
    response = api.client.post(f"/v1/claims/{claim_id}/notes", data=raw,
                               content_type=content_type, headers=sent)
    assert_problem(response, status)
    assert (head(api), lane.served) == (before, served), name


@pytest.mark.parametrize(
    "config", [{"RATE_LIMIT": "1000/second"}, {"CORS_ORIGINS": ("https://desk.example.org",)}]
)
def test_the_lane_stands_aside_while_the_app_has_hooks_it_does_not_know(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    api = ApiHarness.create(tmp_path, **config)
    claim_id = api.new_claim()
    response = api.post(f"/v1/claims/{claim_id}/notes", {"text": "Checked."})
    assert response.status_code == 201
    assert lane_of(api).served == 0
    assert lane_of(api).routes() == {}


def test_the_lane_knows_every_entry_endpoint(api: ApiHarness) -> None:
    assert set(lane_of(api).routes()) == {entry for entry, _ in ENTRIES}
