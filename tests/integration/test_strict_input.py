"""The bad input of issue 17 point 8, each as it was found: answered with a precise 4xx
problem (or the desk's own page), never a 500, and nothing appended."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_desk_corrections import _copy
from tests.integration.test_desk_pages import Desk
from tests.support.api_harness import ApiHarness, assert_problem

DEEP = 100_000


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, DATA_DIR=tmp_path)


def post_raw(api: ApiHarness, path: str, raw: bytes, kind: str = "application/json") -> int:
    head = api.store.head()
    response = api.client.post(path, data=raw, content_type=kind, headers=api.auth("editor"))
    assert api.store.head() == head
    slug = "malformed-ndjson" if kind == "application/x-ndjson" else "malformed-json"
    problem = assert_problem(response, 400)
    assert problem["type"].endswith(f"/{slug}"), problem
    return response.status_code


def correction(target: str, depth: int) -> bytes:
    """A correction body whose ``changes`` nest ``depth`` objects deep."""
    changes = '{"note": ' * depth + '"x"' + "}" * depth
    head = f'{{"target_event_id": "{target}", "kind": "correction", "reason": "r", "changes": '
    return (head + changes + "}").encode()


def test_a_correction_s_changes_nested_100000_deep_are_refused_cleanly(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    target = api.store.read_claim(claim_id)[0].id
    raw = correction(target, DEEP)
    head = api.store.head()
    response = api.client.post(f"/v1/claims/{claim_id}/corrections", data=raw,
                               content_type="application/json", headers=api.auth("editor"))
    assert response.status_code in (400, 413), response.get_data(as_text=True)[:300]
    assert api.store.head() == head
    post_raw(api, f"/v1/claims/{claim_id}/corrections", correction(target, 70))  # 400


def test_the_desk_s_changes_field_nested_deep_is_a_form_error(api: ApiHarness) -> None:
    # corrections are forms now: the desk computes the changes and reads no JSON, so a
    # deep "changes" posted to the correction form is ignored (nothing else changed)
    claim_id = api.new_claim()
    desk = Desk(api)
    desk.sign_in("editor")
    target = api.store.read_claim(claim_id)[0].id
    path = f"/desk/claims/{claim_id}/entries/{target}/correct"
    copy = _copy(desk.get(path).get_data(as_text=True))
    head = api.store.head()
    for depth in (70, 5_000, DEEP):
        response = desk.post(path, {
            **copy, "kind": "correction", "reason": "Reworded.",
            "changes": '{"note": ' * depth + '"x"' + "}" * depth,
        })
        assert response.status_code in (413, 422), (depth, response.status_code)
        if response.status_code == 422:
            assert "Nothing in the copy was changed" in response.get_data(as_text=True)
    assert api.store.head() == head


def test_utf16_bodies_duplicate_keys_and_huge_numbers_are_malformed_json(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    notes = f"/v1/claims/{claim_id}/notes"
    post_raw(api, notes, json.dumps({"text": "UTF-16"}).encode("utf-16"))
    post_raw(api, notes, json.dumps({"text": "UTF-16"}).encode("utf-16-le"))
    post_raw(api, notes, b'\xef\xbb\xbf{"text": "BOM"}')
    post_raw(api, notes, b'{"text": "first", "text": "second"}')
    post_raw(api, notes, b'{"text": "n", "occurred_at": 1' + b"0" * 5000 + b"}")


def test_an_import_line_with_5000_digits_or_duplicate_keys_is_malformed_ndjson(
    api: ApiHarness,
) -> None:
    line = b'{"type": "ClaimRecorded", "data": {"statement": ' + b"9" * 5000 + b"}}"
    post_raw(api, "/v1/imports", line + b"\n", "application/x-ndjson")
    twice = b'{"type": "ClaimRecorded", "type": "NoteAdded", "data": {}}\n'
    post_raw(api, "/v1/imports", twice, "application/x-ndjson")


def test_a_sign_in_next_with_cr_lf_goes_to_the_list(api: ApiHarness) -> None:
    desk = Desk(api)
    desk.get("/desk/sign-in")
    response = desk.post("/desk/sign-in", {
        "token": api.tokens["reader"], "next": "/desk/\r\nSet-Cookie: stolen=1",
    })
    assert response.status_code == 303
    assert response.headers["Location"] == "/desk/"


@pytest.mark.parametrize("after", [str(2**63), str(2**64), "9" * 40])
def test_a_live_feed_after_past_2_63_is_a_400(api: ApiHarness, after: str) -> None:
    claim_id = api.new_claim()
    problem = assert_problem(api.get(f"/v1/events/stream?after={after}", "auditor"), 400)
    assert problem["type"].endswith("/malformed-position")
    desk = Desk(api)
    desk.sign_in("reader")
    response = desk.get(f"/desk/claims/{claim_id}/events?after={after}")
    assert_problem(response, 400)


def test_an_unknown_key_holding_a_lone_surrogate_is_named_in_a_422(api: ApiHarness) -> None:
    """Found by the import fuzzer: echoing the key made the problem unencodable (a 500)."""
    line = b'{"type": "NoteAdded", "\\ud800": 1, "data": {"text": "x"}}\n'
    response = api.client.post("/v1/imports", data=line, content_type="application/x-ndjson",
                               headers=api.auth("editor"))
    problem = assert_problem(response, 422)
    assert problem["errors"] == {"lines.1.\ud800": ["Unknown field."]}


@pytest.mark.parametrize("path", [
    "/v1/claims/{claim}?asof=2014-09-16T00:00:00Z", "/v1/claims/{claim}/history?limt=5",
    "/v1/events?afterr=3", "/v1/events/stream?claim=x", "/v1/claims/{claim}/claimreview?x=1",
    "/v1/tokens?role=admin", "/v1/tokens/log?limit=1",
])
def test_an_unknown_query_parameter_is_a_422_naming_it(api: ApiHarness, path: str) -> None:
    # a misspelt parameter is not silently ignored (the answer would look right and be not
    # what was asked: asof= would answer today's claim, not the replay)
    claim = api.new_claim()
    url = path.format(claim=claim)
    problem = assert_problem(api.get(url, "admin"), 422)
    assert list(problem["errors"]) == [url.split("?")[1].split("=")[0]]
