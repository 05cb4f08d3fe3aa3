"""Shared helpers for the API integration tests: an app on a real temporary SQLite file.

Not a test module (it has no tests); the ``test_api_`` name keeps it beside its users.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from api import create_app
from api import tokens as api_tokens
from api.state import ledger_state
from ledger.store import EventStore

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


@dataclass
class ApiHarness:
    """An app on a fresh SQLite file, its test client, and one token per role."""

    app: Flask
    client: FlaskClient
    store: EventStore
    tokens: dict[str, str]

    @classmethod
    def create(cls, tmp_path: Path, **config: Any) -> ApiHarness:
        """Build the app (rate limits off unless configured) and a token for every role."""
        settings = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}", "RATE_LIMIT": None}
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

    def url(self, claim: str, event: str) -> str:
        """The path with a real claim and event filled in."""
        return self.path.format(claim=claim, event=event)

    @property
    def success(self) -> int:
        """The status the operation answers when it succeeds."""
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
