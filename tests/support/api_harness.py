"""The API in-process for tests: an app on a real temporary SQLite file, a client per
role, the sample story's bodies and the checks of a problem answer."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api import create_app
from api import credentials as api_tokens
from api.state import ledger_state
from ledger.store import EventStore
from tests.support.net import NO_REDIS

PROBLEM = "application/problem+json"

#: the sample story: Khamenei's claim about Kerry, as Fars reported it on 15 September 2014
CLAIM = {
    "statement": "John Kerry personally asked Iran's foreign minister to cooperate against ISIL.",
    "claimant": {"name": "Ali Khamenei", "same_as": "https://www.wikidata.org/wiki/Q57336"},
    "appearance": {
        "outlet": "Fars News Agency",
        "published_at": "2014-09-15T09:00:00+04:30",
        "quote": "The same U.S. secretary of state had personally demanded Zarif ...",
    },
    "language": "en",
    "tags": ["iran", "isil", "us-foreign-policy"],
    "occurred_at": "2014-09-15T08:30:00+04:30",
}
DENIAL = {
    "by": {"name": "U.S. State Department"},
    "note": "Publicly maintains that Iran is not welcome in the coalition against ISIL.",
    "occurred_at": "2014-09-15T14:00:00Z",
}
CORROBORATION = {
    "by": {"name": "The New York Times"},
    "appearance": {"outlet": "The New York Times", "published_at": "2014-09-15T12:00:00Z"},
    "note": "Reports Kerry is still willing to discuss ISIL with Iran.",
    "occurred_at": "2014-09-15T12:00:00Z",
}
APPEARANCE = {"appearance": {"outlet": "Associated Press"}}
VERDICT = {
    "scale": "standard",
    "value": "mostly-true",
    "explanation": "Kerry's own words partly corroborate the overture.",
    "reviewer": {"name": "Standards desk"},
}


def body(template: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of a sample body with some fields replaced (None removes a field)."""
    result = copy.deepcopy(dict(template))
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


JSON = "application/json"

#: hostile bodies for a denial: (name, body bytes, content type, expected status)
HOSTILE_BODIES: list[tuple[str, bytes, str, int]] = [
    ("malformed JSON", b'{"by": {"name": "x"', "application/json", 400),
    ("truncated JSON", json.dumps(DENIAL).encode()[:-7], "application/json", 400),
    ("empty body", b"", "application/json", 400),
    ("JSON nested 50,000 deep", b"[" * 50_000 + b"]" * 50_000, "application/json", 400),
    ("objects nested 50,000 deep", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, JSON, 400),
    ("NaN", b'{"by": {"name": NaN}}', "application/json", 400),
    ("an integer of 5,000 digits", b'{"by": {"name": ' + b"9" * 5000 + b"}}", JSON, 400),
    ("not UTF-8", b'{"by": {"name": "\xff\xfe"}}', "application/json", 400),
    ("a JSON array", b"[1, 2]", "application/json", 422),
    ("a JSON string", b'"denied"', "application/json", 422),
    ("null", b"null", "application/json", 422),
    ("text/plain", json.dumps(DENIAL).encode(), "text/plain", 415),
    ("form encoded", b"by=x", "application/x-www-form-urlencoded", 415),
    ("no content type", json.dumps(DENIAL).encode(), "", 415),
    ("ndjson to a JSON endpoint", json.dumps(DENIAL).encode(), "application/x-ndjson", 415),
]

#: (name, JSON body for a denial, field paths the problem must name)
HOSTILE_FIELDS: list[tuple[str, Any, tuple[str, ...]]] = [
    ("unknown field", body(DENIAL, verdict="true"), ("verdict",)),
    ("missing field", {"note": "no by"}, ("by",)),
    ("wrong type", body(DENIAL, by="State Department"), ("by",)),
    ("wrong nested type", body(DENIAL, by={"name": 42}), ("by.name",)),
    ("string of 200,000 characters", body(DENIAL, note="x" * 200_000), ("note",)),
    ("NUL character", body(DENIAL, by={"name": "State\u0000Dept"}), ("by.name",)),
    ("control character", body(DENIAL, by={"name": "State\u001bDept"}), ("by.name",)),
    ("C1 control character", body(DENIAL, note="a\u0085b"), ("note",)),
    ("lone surrogate", body(DENIAL, note="\ud800"), ("note",)),
    ("zone-less time", body(DENIAL, occurred_at="2014-09-15T12:00:00"), ("occurred_at",)),
    ("invalid time", body(DENIAL, occurred_at="2014-02-30T12:00:00Z"), ("occurred_at",)),
    ("time as a number", body(DENIAL, occurred_at=1410782400), ("occurred_at",)),
    ("null time", body(DENIAL, occurred_at=None) | {"occurred_at": None}, ("occurred_at",)),
    ("year 0", body(DENIAL, occurred_at="0000-01-01T00:00:00Z"), ("occurred_at",)),
    ("malformed related id", body(DENIAL, related_claim_id="42"), ("related_claim_id",)),
    ("javascript URL", body(DENIAL, appearance={"outlet": "x", "url": "javascript:alert(1)"}),
     ("appearance.url",)),
]


@dataclass
class ApiHarness:
    """An app on a fresh SQLite file, its test client, and one token per role."""

    app: Flask
    client: FlaskClient
    store: EventStore
    tokens: dict[str, str]

    @classmethod
    def create(cls, tmp_path: Path, **config: Any) -> ApiHarness:
        """Build the app (rate limits off unless configured) and a token for every role.

        Redis is a closed port unless ``REDIS_URL`` is given: tests never touch a Redis
        they did not start (appends would enqueue view jobs there).
        """
        settings = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
            "RATE_LIMIT": None,
            "DESK_RATE_LIMIT": None,
            "REDIS_URL": NO_REDIS,
        }
        app = create_app({**settings, "TESTING": True, **config})
        with app.app_context():
            store = ledger_state().store
        store.init()
        tokens = {
            role: api_tokens.create(store, name=f"{role}-desk", role=role, created_by="test")[1]
            for role in api_tokens.ROLES
        }
        return cls(app, app.test_client(), store, tokens)

    def auth(self, role: str | None) -> dict[str, str]:
        """The Authorization header of ``role``'s token (none for None)."""
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def post(
        self, path: str, json: Any = None, role: str | None = "editor", **headers: str
    ) -> TestResponse:
        """POST JSON as ``role``."""
        return self.client.post(path, json=json, headers={**self.auth(role), **headers})

    def get(self, path: str, role: str | None = "admin", **headers: str) -> TestResponse:
        """GET as ``role``."""
        return self.client.get(path, headers={**self.auth(role), **headers})

    def new_claim(self, **changes: Any) -> str:
        """Record the sample claim (with changes); returns its id."""
        response = self.post("/v1/claims", body(CLAIM, **changes))
        assert response.status_code == 201, response.get_json()
        claim_id: str = response.get_json()["claim_id"]
        return claim_id


def assert_problem(response: TestResponse, status: int, *fields: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` (and errors on ``fields``)."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    problem: dict[str, Any] = response.get_json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= set(problem)
    for name in fields:
        assert name in problem.get("errors", {}), problem
    return problem


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API and the role the contract gives it."""

    method: str
    path: str  # may contain {claim} and {event}
    role: str
    json: Any = None
    ndjson: str | None = None
    answer: int | None = None  # when a permitted call does not succeed

    def url(self, claim: str, event: str) -> str:
        """The path with a real claim and event filled in."""
        return self.path.format(claim=claim, event=event)

    @property
    def success(self) -> int:
        """The status the operation answers when the role is permitted."""
        if self.answer is not None:
            return self.answer
        return 201 if self.method == "POST" else 200


_IMPORT_LINE = (
    '{"claim_ref": "k", "type": "ClaimRecorded", "data": {"statement": "Iran rejected the'
    ' request.", "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "IRIB"}}}\n'
)

#: every /v1 operation of this issue, with the role it needs
ENDPOINTS = [
    Endpoint("POST", "/v1/claims", "editor", json=CLAIM),
    Endpoint("GET", "/v1/claims/{claim}", "reader"),
    Endpoint("GET", "/v1/claims/{claim}/history", "reader"),
    Endpoint("POST", "/v1/claims/{claim}/appearances", "editor", json=APPEARANCE),
    Endpoint("POST", "/v1/claims/{claim}/corroborations", "editor", json=CORROBORATION),
    Endpoint("POST", "/v1/claims/{claim}/denials", "editor", json=DENIAL),
    Endpoint("POST", "/v1/claims/{claim}/retractions", "editor", json={"by": {"name": "Fars"}}),
    Endpoint("POST", "/v1/claims/{claim}/verdicts", "editor", json=VERDICT),
    Endpoint(
        "POST",
        "/v1/claims/{claim}/corrections",
        "editor",
        json={"target_event_id": "{event}", "kind": "clarification", "reason": "Context."},
    ),
    Endpoint("POST", "/v1/claims/{claim}/notes", "editor", json={"text": "Call the bureau."}),
    # the role is checked before the body: an event id is no claim, so the editor gets a 422
    Endpoint("POST", "/v1/claims/{claim}/links", "editor",
             json={"target_claim_id": "{event}", "kind": "same-as"}, answer=422),
    Endpoint("POST", "/v1/imports", "editor", ndjson=_IMPORT_LINE),
    Endpoint("GET", "/v1/events", "auditor"),
    Endpoint("GET", "/v1/tokens", "admin"),
    Endpoint("GET", "/v1/tokens/log", "admin"),
]


def fill(value: Any, event: str) -> Any:
    """A JSON body with ``{event}`` placeholders replaced."""
    if isinstance(value, dict):
        return {k: fill(v, event) for k, v in value.items()}
    return value.replace("{event}", event) if isinstance(value, str) else value
