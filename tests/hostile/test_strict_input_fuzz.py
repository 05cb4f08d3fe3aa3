"""Generated hostile input against the app on a real SQLite file, one class at a time.

Bodies damaged by each class of ``tests.hostile.jsonbodies`` (duplicate keys, nesting
past the limit, numbers past 64 bits, not UTF-8) are a 400 ``malformed-json`` on every
JSON endpoint, and as an import line a 400 ``malformed-ndjson``; a desk sign-in ``next``
holding CR, LF or other control characters goes to the list; a live feed's ``after``
past 2^63 is a 400. Nothing answers 500 and nothing is appended.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile.mutations import SEED_LINES
from tests.support.api_harness import CLAIM, VERDICT, ApiHarness
from tests.support.casecount import record
from tests.support.jsonbodies import NOTE, header_breakers, hostile_bodies, huge_positions
from tests.support.long import scaled

FUZZ = settings(
    max_examples=scaled(60, 2_000), deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: a valid body for each JSON endpoint (path under the claim, "" for POST /v1/claims)
BODIES = {"": CLAIM, "/notes": NOTE, "/verdicts": VERDICT, "/links": {
    "target_claim_id": "01a21b98-2a8d-796e-8b54-f88b67019bd7", "kind": "restates",
    "note": "Same account."}}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> tuple[ApiHarness, str]:
    directory = Path(tmp_path_factory.mktemp("strict"))
    harness = ApiHarness.create(directory, DATA_DIR=directory)
    return harness, harness.new_claim()


def problem_type(body: bytes) -> str:
    return str(json.loads(body)["type"]).rsplit("/", 1)[-1]


@FUZZ
@given(st.sampled_from(sorted(BODIES)), st.data())
def test_a_hostile_json_body_is_a_400_and_appends_nothing(
    api: tuple[ApiHarness, str], where: str, data: st.DataObject
) -> None:
    harness, claim_id = api
    kind, raw = data.draw(hostile_bodies(BODIES[where]))
    record(f"strict JSON bodies ({kind})")
    path = "/v1/claims" + (f"/{claim_id}{where}" if where else "")
    head = harness.store.head()
    response = harness.client.post(path, data=raw, content_type="application/json",
                                   headers=harness.auth("editor"))
    if response.status_code == 413:  # a 100,000-deep body may pass the body size limit
        assert len(raw) > harness.app.config["MAX_CONTENT_LENGTH"]
    else:
        assert response.status_code == 400, (kind, response.get_data(as_text=True)[:300])
        assert problem_type(response.get_data()) == "malformed-json"
    assert harness.store.head() == head


@FUZZ
@given(st.data())
def test_a_hostile_import_line_is_a_400_malformed_ndjson(
    api: tuple[ApiHarness, str], data: st.DataObject
) -> None:
    harness, _ = api
    kind, raw = data.draw(hostile_bodies(SEED_LINES[0]))
    record(f"strict NDJSON import lines ({kind})")
    before = json.dumps(SEED_LINES[0]).encode()
    body = data.draw(st.sampled_from([raw, before + b"\n" + raw, raw + b"\n" + before]))
    head = harness.store.head()
    response = harness.client.post("/v1/imports", data=body,
                                   content_type="application/x-ndjson",
                                   headers=harness.auth("editor"))
    assert response.status_code == 400, (kind, response.get_data(as_text=True)[:300])
    assert problem_type(response.get_data()) == "malformed-ndjson"
    assert harness.store.head() == head


def sign_in(harness: ApiHarness, role: str, target: str = "/desk/") -> tuple[FlaskClient, str]:
    """A fresh browser-like client signed in to the desk, and where sign-in sent it."""
    client = harness.app.test_client()
    found = _CSRF.search(client.get("/desk/sign-in").get_data(as_text=True))
    assert found is not None
    response = client.post("/desk/sign-in", data={
        "csrf_token": found.group(1), "token": harness.tokens[role], "next": target,
    })
    assert response.status_code == 303
    return client, response.headers["Location"]


_SIGNED_IN: dict[int, FlaskClient] = {}


def signed_in(harness: ApiHarness) -> FlaskClient:
    """One reader's desk client per harness."""
    if id(harness) not in _SIGNED_IN:
        _SIGNED_IN[id(harness)] = sign_in(harness, "reader")[0]
    return _SIGNED_IN[id(harness)]


@FUZZ
@given(header_breakers, st.sampled_from(["/desk/", "/desk/claims/x", ""]))
def test_a_sign_in_next_with_control_characters_goes_to_the_list(
    api: tuple[ApiHarness, str], breaker: str, prefix: str
) -> None:
    harness, _ = api
    record("desk sign-in next (control characters)")
    assert sign_in(harness, "reader", prefix + breaker)[1] == "/desk/"


@FUZZ
@given(huge_positions, st.sampled_from(["stream", "desk"]))
def test_a_live_feed_after_past_2_63_is_a_400(
    api: tuple[ApiHarness, str], after: int | str, feed: str
) -> None:
    harness, claim_id = api
    record("live feed ?after= past 2^63")
    path = (f"/v1/events/stream?after={after}" if feed == "stream"
            else f"/desk/claims/{claim_id}/events?after={after}")
    # the desk feed reads the desk's session
    response = harness.get(path, "auditor") if feed == "stream" else signed_in(harness).get(path)
    assert response.status_code == 400
    assert problem_type(response.get_data()) == "malformed-position"
