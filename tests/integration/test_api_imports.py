"""POST /v1/imports: NDJSON, claim_ref/event_ref, all or nothing, errors by line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.support.api_harness import CLAIM, DENIAL, ApiHarness, assert_problem, body

NDJSON = "application/x-ndjson"


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path)


def ndjson(*lines: dict[str, Any] | str) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def post(api: ApiHarness, text: str | bytes, **headers: str) -> TestResponse:
    return api.client.post(
        "/v1/imports", data=text, content_type=NDJSON, headers={**api.auth("editor"), **headers}
    )


def recorded(ref: str, **data: Any) -> dict[str, Any]:
    payload = body(CLAIM, occurred_at=None, **data)
    return {"claim_ref": ref, "type": "ClaimRecorded", "data": payload}


STORY = ndjson(
    {**recorded("kerry"), "occurred_at": "2014-09-15T04:00:00Z", "event_ref": "rec"},
    recorded("lie", statement="The US is lying about excluding Iran from the coalition."),
    {"claim_ref": "kerry", "type": "ClaimDenied", "data": body(DENIAL, occurred_at=None)},
    {
        "claim_ref": "lie",
        "type": "ClaimDenied",
        "related_claim_ref": "kerry",
        "data": {"by": {"name": "Ali Khamenei"}},
    },
    {
        "claim_ref": "kerry",
        "type": "EntryCorrected",
        "target_ref": "rec",
        "data": {"kind": "clarification", "reason": "Quoted from state TV."},
    },
)


def test_an_import_appends_every_line_and_maps_claim_refs(api: ApiHarness) -> None:
    response = post(api, STORY)
    assert response.status_code == 201, response.get_json()
    result = response.get_json()
    assert (result["count"], result["first_position"], result["last_position"]) == (5, 1, 5)
    assert set(result["claims"]) == {"kerry", "lie"}
    kerry = api.get(f"/v1/claims/{result['claims']['kerry']}").get_json()
    assert kerry["status"] == "denied"
    assert kerry["appearances"][0]["corrections"][0]["kind"] == "clarification"
    lie = api.store.read_claim(result["claims"]["lie"])
    assert lie[1].data is not None
    assert lie[1].data["related_claim_id"] == result["claims"]["kerry"]
    assert {e.actor for e in api.store.read_claim(result["claims"]["kerry"])} == {
        "token:editor-desk"
    }


def test_lines_may_name_existing_claims_by_id(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    text = ndjson({"claim_id": claim_id, "type": "NoteAdded", "data": {"text": "Imported."}})
    assert post(api, text).status_code == 201
    assert api.store.head() == 2


def test_one_bad_line_writes_nothing_and_is_named(api: ApiHarness) -> None:
    text = ndjson(
        recorded("a"),
        {"claim_ref": "a", "type": "ClaimDenied", "data": {"by": {"name": ""}}},
        {"claim_ref": "zzz", "type": "NoteAdded", "data": {"text": "x"}},
        "{not json",
        {"claim_ref": "a", "type": "Gossip", "data": {}},
    )
    problem = assert_problem(post(api, text), 422)
    assert {"lines.2.data.by.name", "lines.3.claim_ref", "lines.4", "lines.5.type"} <= set(
        problem["errors"]
    )
    assert api.store.head() == 0


def test_store_rules_are_reported_by_line(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    bad_target = ndjson(
        {"claim_id": claim_id, "type": "NoteAdded", "data": {"text": "ok"}},
        {
            "claim_id": claim_id,
            "type": "EntryCorrected",
            "data": {"target_event_id": str(uuid.uuid4()), "kind": "void", "reason": "x"},
        },
    )
    problem = assert_problem(post(api, bad_target), 422)
    assert "lines.2.data.target_event_id" in problem["errors"]
    unknown = ndjson({"claim_id": str(uuid.uuid4()), "type": "NoteAdded", "data": {"text": "x"}})
    assert "lines.1.claim_id" in assert_problem(post(api, unknown), 422)["errors"]
    assert api.store.head() == 1


def test_a_repeated_import_key_answers_the_original_claims(api: ApiHarness) -> None:
    first = post(api, STORY, **{"Idempotency-Key": "story-1"})
    again = post(api, STORY, **{"Idempotency-Key": "story-1"})
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert api.store.head() == 5
    longer = STORY + STORY.splitlines()[2] + "\n"
    assert_problem(post(api, longer, **{"Idempotency-Key": "story-1"}), 409)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("", 422),  # nothing to import
        ("\n\n", 422),
        (b"\xff\xfe{}\n", 400),  # not UTF-8
        # what the strict parser refuses is a malformed line (400), not an invalid one (422)
        ('{"claim_id": "x", "type": "NoteAdded", "data": {"text": 1' + "1" * 5000 + "}}\n", 400),
        ("[" * 50_000 + "\n", 400),
        ('{"type": "NoteAdded", "data": {"text": NaN}}\n', 400),
        ('{"type": "NoteAdded", "data": {"text": "a", "text": "b"}}\n', 400),
        ('{"type": "NoteAdded", "data": {"text": "a"},}\n', 422),  # plain syntax: lines.1
    ],
)
def test_malformed_imports_are_problems(api: ApiHarness, text: str | bytes, status: int) -> None:
    assert_problem(post(api, text), status)
    assert api.store.head() == 0


def test_imports_need_the_ndjson_content_type(api: ApiHarness) -> None:
    response = api.client.post(
        "/v1/imports", data=STORY, content_type="application/json", headers=api.auth("editor")
    )
    assert_problem(response, 415)
    assert response.headers["Accept-Post"] == NDJSON


def test_import_size_and_line_limits(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, MAX_IMPORT_BYTES=4096, MAX_BODY_BYTES=2048)
    long_line = ndjson(recorded("a", statement="x" * 1990))
    assert "lines.1" in assert_problem(post(api, long_line), 422)["errors"]
    many = ndjson(*[recorded(f"c{n}") for n in range(30)])
    assert_problem(post(api, many), 413)
    assert api.store.head() == 0


def test_the_event_count_of_one_import_is_bounded(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, MAX_IMPORT_EVENTS=3)
    problem = assert_problem(post(api, ndjson(*[recorded(f"c{n}") for n in range(5)])), 422)
    assert "lines.4" in problem["errors"]


def test_a_link_line_names_its_other_claim_by_claim_ref(api: ApiHarness) -> None:
    text = ndjson(
        recorded("kerry"),
        recorded("sherman", statement="Sherman asked Araqchi for cooperation against ISIL."),
        {"claim_ref": "sherman", "type": "ClaimLinked", "related_claim_ref": "kerry",
         "data": {"kind": "restates"}},
    )
    response = post(api, text)
    assert response.status_code == 201, response.get_json()
    claims = response.get_json()["claims"]
    [link] = api.get(f"/v1/claims/{claims['sherman']}").get_json()["links"]
    assert (link["target_claim_id"], link["kind"]) == (claims["kerry"], "restates")
    itself = ndjson(recorded("twin"), {"claim_ref": "twin", "type": "ClaimLinked",
                                       "related_claim_ref": "twin", "data": {"kind": "same-as"}})
    refused = post(api, itself)
    assert refused.status_code == 422, refused.get_json()
    assert api.store.head() == 3
