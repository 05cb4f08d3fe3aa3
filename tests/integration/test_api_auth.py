"""Authentication and roles: every endpoint for every role, bad tokens, public read, headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from api import credentials as api_tokens
from api.state import ledger_state
from ledger.timeutil import format_time, utcnow
from tests.support.api_harness import ENDPOINTS, ApiHarness, Endpoint, assert_problem, fill


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> ApiHarness:
    return ApiHarness.create(tmp_path_factory.mktemp("auth"))


@pytest.fixture(scope="module")
def claim(api: ApiHarness) -> tuple[str, str]:
    claim_id = api.new_claim()
    return claim_id, api.store.read_claim(claim_id)[0].id


def call(
    api: ApiHarness, endpoint: Endpoint, claim: tuple[str, str], headers: dict[str, str]
) -> TestResponse:
    url = endpoint.url(*claim)
    if endpoint.ndjson is not None:
        return api.client.post(
            url, data=endpoint.ndjson, content_type="application/x-ndjson", headers=headers
        )
    kwargs: dict[str, Any] = {"headers": headers}
    if endpoint.json is not None:
        kwargs["json"] = fill(endpoint.json, claim[1])
    return api.client.open(url, method=endpoint.method, **kwargs)


@pytest.mark.parametrize("role", [*api_tokens.ROLES, None])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_every_endpoint_for_every_role(
    api: ApiHarness, claim: tuple[str, str], endpoint: Endpoint, role: str | None
) -> None:
    head = api.store.head()
    response = call(api, endpoint, claim, api.auth(role))
    if role is None:
        problem = assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert problem["type"].endswith("/unauthenticated")
    elif endpoint.role in api_tokens.ROLE_GRANTS[role]:
        assert response.status_code == endpoint.success, response.get_json()
        assert response.headers["Cache-Control"] == "no-store"
    else:
        assert_problem(response, 403)
    if response.status_code != 201:
        assert api.store.head() == head


@pytest.mark.parametrize(
    "header",
    [
        "Bearer clt_not-a-real-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "clt_missing-the-scheme",
        "Bearer " + "a" * 300,
        "Bearer ä-non-ascii",
    ],
)
def test_unknown_or_malformed_tokens_are_401(
    api: ApiHarness, claim: tuple[str, str], header: str
) -> None:
    response = api.client.get(f"/v1/claims/{claim[0]}", headers={"Authorization": header})
    assert_problem(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_stops_working_at_once(api: ApiHarness, claim: tuple[str, str]) -> None:
    record, token = api_tokens.create(api.store, name="leaving", role="reader", created_by="test")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get(f"/v1/claims/{claim[0]}", headers=headers).status_code == 200
    assert api.store.revoke_token(record.id, actor="test", at=format_time(utcnow()))
    assert_problem(api.client.get(f"/v1/claims/{claim[0]}", headers=headers), 401)
    log = api.get("/v1/tokens/log").get_json()["items"]
    assert [e["action"] for e in log if e["token_id"] == record.id] == ["created", "revoked"]


def test_the_token_list_never_shows_a_token_or_its_hash(api: ApiHarness) -> None:
    text = api.get("/v1/tokens").get_data(as_text=True)
    for token in api.tokens.values():
        assert token not in text
        assert api_tokens.digest(token) not in text
    names = {t["name"] for t in api.get("/v1/tokens").get_json()["items"]}
    assert {"reader-desk", "editor-desk", "auditor-desk", "admin-desk"} <= names


def test_every_v1_view_declares_its_role(api: ApiHarness) -> None:
    undeclared = []
    for rule in api.app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        view = api.app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in set(rule.methods or ()) - {"HEAD", "OPTIONS"}:
            handler = getattr(view_class, method.lower(), view)
            if getattr(handler, "required_role", None) is None:
                undeclared.append(f"{method} {rule.rule}")
    assert undeclared == []


def test_public_read_opens_reader_and_auditor_gets_only(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, PUBLIC_READ=True)
    claim_id = api.new_claim()
    event_id = api.store.read_claim(claim_id)[0].id
    for endpoint in ENDPOINTS:
        response = call(api, endpoint, (claim_id, event_id), {})
        if endpoint.method == "GET" and endpoint.role in ("reader", "auditor"):
            assert response.status_code == 200, endpoint
            assert response.headers["Cache-Control"] == "no-cache"
        else:
            assert_problem(response, 401)
    bad = api.client.get(f"/v1/claims/{claim_id}", headers={"Authorization": "Bearer nope"})
    assert_problem(bad, 401)  # a wrong token is not silently anonymous


def test_tokens_are_stored_only_as_their_sha256(api: ApiHarness) -> None:
    with api.app.app_context():
        store = ledger_state().store
    token = api.tokens["editor"]
    record = store.find_token(api_tokens.digest(token))
    assert record is not None
    assert record.name == "editor-desk"
    assert store.find_token(token) is None


def test_token_names_are_unique_among_active_tokens(api: ApiHarness) -> None:
    with pytest.raises(ValueError, match="already named"):
        api_tokens.create(api.store, name="editor-desk", role="editor", created_by="test")
    with pytest.raises(ValueError, match="token name"):
        api_tokens.create(api.store, name="has spaces", role="editor", created_by="test")
    with pytest.raises(ValueError, match="unknown role"):
        api_tokens.create(api.store, name="root", role="superuser", created_by="test")
