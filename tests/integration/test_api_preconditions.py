"""If-Match (optimistic concurrency) and Idempotency-Key (safe retries) on writes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.support.api_harness import CLAIM, DENIAL, ApiHarness, assert_problem, body


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path)


def test_if_match_with_the_current_version_appends(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    response = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"If-Match": '"1"'})
    assert response.status_code == 201
    assert response.headers["ETag"] == '"2"'
    anything = api.post(f"/v1/claims/{claim_id}/notes", {"text": "x"}, **{"If-Match": "*"})
    assert anything.status_code == 201


def test_a_stale_if_match_is_412_with_the_current_version(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)
    response = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"If-Match": '"1"'})
    problem = assert_problem(response, 412)
    assert problem["current_version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert api.store.head() == 2


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("1", 400),  # unquoted
        ('"1', 400),
        ("garbage", 400),
        ('"1", "2"', 400),  # an append checks one version
        ('W/"1"', 412),  # weak tags never match for If-Match
        ('"abc"', 412),
        ('"01"', 412),
        ('"-1"', 412),
        ('"99999999999999999999999"', 412),
    ],
)
def test_malformed_or_impossible_if_match(api: ApiHarness, header: str, status: int) -> None:
    claim_id = api.new_claim()
    response = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"If-Match": header})
    assert_problem(response, status)
    assert api.store.head() == 1


def test_if_match_on_a_new_claim_matches_only_version_zero(api: ApiHarness) -> None:
    assert api.post("/v1/claims", CLAIM, **{"If-Match": '"0"'}).status_code == 201
    assert_problem(api.post("/v1/claims", CLAIM, **{"If-Match": '"1"'}), 412)


def test_concurrent_writers_with_the_same_if_match_one_wins(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def write() -> None:
        client = api.app.test_client()
        barrier.wait()
        response = client.post(
            f"/v1/claims/{claim_id}/denials",
            json=DENIAL,
            headers={**api.auth("editor"), "If-Match": '"1"'},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [412] * 7
    assert [e.version for e in api.store.read_claim(claim_id)] == [1, 2]


def test_a_repeated_idempotency_key_returns_the_original_answer(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    key = {"Idempotency-Key": "desk-retry-7"}
    first = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **key)
    again = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert again.headers["ETag"] == first.headers["ETag"] == '"2"'
    assert again.headers["Idempotency-Replayed"] == "true"
    assert "Idempotency-Replayed" not in first.headers
    assert first.get_json()["metadata"]["idempotency_key"] == "desk-retry-7"
    assert api.store.head() == 2


def test_a_repeated_claim_creation_does_not_create_a_second_claim(api: ApiHarness) -> None:
    key = {"Idempotency-Key": "create-once"}
    first = api.post("/v1/claims", CLAIM, **key).get_json()
    again = api.post("/v1/claims", CLAIM, **key).get_json()
    assert again["claim_id"] == first["claim_id"]
    assert api.store.head() == 1


def test_the_same_key_with_another_body_or_path_is_409(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    other = api.new_claim()
    key = {"Idempotency-Key": "k-1"}
    assert api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **key).status_code == 201
    changed = body(DENIAL, note="Another note.")
    problem = assert_problem(api.post(f"/v1/claims/{claim_id}/denials", changed, **key), 409)
    assert problem["type"].endswith("/idempotency-key-reused")
    assert_problem(api.post(f"/v1/claims/{other}/denials", DENIAL, **key), 409)
    assert_problem(api.post(f"/v1/claims/{claim_id}/notes", {"text": "n"}, **key), 409)
    assert api.store.head() == 3


def test_keys_are_scoped_to_the_token(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    key = {"Idempotency-Key": "shared-name"}
    mine = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, role="editor", **key)
    theirs = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, role="admin", **key)
    assert mine.get_json()["id"] != theirs.get_json()["id"]
    assert theirs.get_json()["actor"] == "token:admin-desk"


@pytest.mark.parametrize("key", ["x" * 201, "x" * 10_000, "", " leading", "tab\there", "ü"])
def test_invalid_idempotency_keys_are_400(api: ApiHarness, key: str) -> None:
    claim_id = api.new_claim()
    response = api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"Idempotency-Key": key})
    assert_problem(response, 400)
    assert api.store.head() == 1


def test_a_200_character_key_is_accepted(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    key = {"Idempotency-Key": "k" * 200}
    assert api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **key).status_code == 201
