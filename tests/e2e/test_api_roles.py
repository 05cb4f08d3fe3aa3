"""Every endpoint for every role against a real server: 401 without a token, with a
malformed, unknown or revoked one; 403 without the role, 2xx with it; a revoked token is
401 at once. Under LEDGER_PUBLIC_READ=1 anonymous clients may use the reader and auditor
GETs and nothing else."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api import credentials as api_tokens
from api.credentials import ROLE_GRANTS, ROLES
from ledger.timeutil import format_time, utcnow
from tests.support.api_harness import CLAIM, ENDPOINTS, VERDICT, ApiHarness, Endpoint, fill
from tests.support.routes import build_app, routes
from tests.support.server import Server, cli, create_token

PROBLEM = "application/problem+json"
#: the operations ENDPOINTS (the write and history issue's) leaves out
MORE_ENDPOINTS = [
    Endpoint("GET", "/v1/claims", "reader"),
    Endpoint("GET", "/v1/claims/{claim}/claimreview", "reader"),
    Endpoint("GET", "/v1/claims/similar?statement=Kerry+asked+Zarif", "reader"),
    Endpoint("GET", "/v1/projections", "reader"),
    Endpoint("GET", "/v1/log/checkpoint", "auditor"),
    Endpoint("GET", "/v1/log/checkpoints", "auditor"),
    Endpoint("GET", "/v1/log/key", "auditor"),
    Endpoint("GET", "/v1/log/proof/inclusion?index=0&size=1", "auditor"),
    Endpoint("GET", "/v1/log/proof/consistency?from=1&to=1", "auditor"),
    Endpoint("GET", "/v1/events/stream", "auditor"),
    Endpoint("GET", "/v1/jobs/cl-no-such-job", "admin"),
    Endpoint("POST", "/v1/projections/rebuild", "admin", json={}),
]
ALL_ENDPOINTS = ENDPOINTS + MORE_ENDPOINTS
#: what a permitted call answers where that is not 200/201
SUCCESS = {"/v1/jobs/cl-no-such-job": 404, "/v1/projections/rebuild": 202}
_IDS = {"ids": lambda e: f"{e.method} {e.path}"}


@pytest.fixture(scope="module")
def claim(server: Server) -> tuple[str, str]:
    with server.client("editor") as client:
        event = client.post("/v1/claims", json=CLAIM).json()
        assert client.post(f"/v1/claims/{event['claim_id']}/verdicts", json=VERDICT).is_success
    return event["claim_id"], event["id"]


def send(client: httpx.Client, endpoint: Endpoint, claim: tuple[str, str]) -> httpx.Response:
    url = endpoint.url(*claim)
    if endpoint.ndjson is not None:
        return client.post(
            url, content=endpoint.ndjson, headers={"Content-Type": "application/x-ndjson"}
        )
    if endpoint.json is not None:
        return client.request(endpoint.method, url, json=fill(endpoint.json, claim[1]))
    if endpoint.path == "/v1/events/stream":  # the status and headers, not the whole stream
        with client.stream("GET", url) as response:
            return response
    return client.request(endpoint.method, url)


def test_the_matrix_covers_every_operation_with_its_declared_role() -> None:
    declared = {(r.method, r.path): r.role for r in routes(build_app())}
    covered = {}
    for e in ALL_ENDPOINTS:
        path = e.path.split("?")[0].replace("{claim}", "{claim_id}")
        path = "/v1/jobs/{job_id}" if path.startswith("/v1/jobs/") else path
        covered[(e.method, path)] = e.role
    assert covered == {key: role for key, role in declared.items() if key[1].startswith("/v1/")}


@pytest.mark.parametrize("role", [*ROLES, None])
@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, **_IDS)
def test_endpoint_role_matrix(
    server: Server, claim: tuple[str, str], endpoint: Endpoint, role: str | None
) -> None:
    head = server.head()
    with server.client(role) as client:
        response = send(client, endpoint, claim)
    if role is None:
        expected = 401
    elif endpoint.role in ROLE_GRANTS[role]:
        expected = SUCCESS.get(endpoint.path, endpoint.success)
    else:
        expected = 403
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == PROBLEM
        assert server.head() == head
    if role is not None:
        assert response.headers["cache-control"] == "no-store"


@pytest.fixture(scope="module")
def revoked(server: Server) -> dict[str, str]:
    """A revoked token for every role (created and revoked in the server's own store)."""
    store = server.store()
    try:
        made = {}
        for role in ROLES:
            record, token = api_tokens.create(
                store, name=f"revoked-{role}", role=role, created_by="test"
            )
            assert store.revoke_token(record.id, actor="test", at=format_time(utcnow()))
            made[role] = token
        return made
    finally:
        store.close()


BAD_CREDENTIALS = {
    "malformed": "Bearer not a token!",
    "unknown": "Bearer clt_" + "A" * 43,
    "scheme only": "Bearer",
    "wrong scheme": "Basic " + base64.b64encode(b"admin:admin").decode(),
    "token without scheme": "clt_" + "A" * 43,
}


@pytest.mark.parametrize("credential", [*BAD_CREDENTIALS, *(f"revoked {r}" for r in ROLES)])
@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, **_IDS)
def test_a_bad_or_revoked_token_is_401_everywhere(
    server: Server, claim: tuple[str, str], revoked: dict[str, str], endpoint: Endpoint,
    credential: str,
) -> None:
    head = server.head()
    header = BAD_CREDENTIALS.get(credential) or f"Bearer {revoked[credential.split()[1]]}"
    with httpx.Client(base_url=server.url, headers={"Authorization": header}) as client:
        response = send(client, endpoint, claim)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith('Bearer realm="claimledger"')
    assert server.head() == head


@pytest.fixture(scope="module")
def public_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """The app in-process with LEDGER_PUBLIC_READ=1 on a real SQLite file."""
    api = ApiHarness.create(Path(tmp_path_factory.mktemp("public")), PUBLIC_READ=True)
    yield api
    api.store.close()


@pytest.mark.parametrize("endpoint", ALL_ENDPOINTS, **_IDS)
def test_public_read_opens_reader_and_auditor_gets_only(
    public_api: ApiHarness, endpoint: Endpoint
) -> None:
    claim_id = public_api.new_claim()
    url = endpoint.url(claim_id, claim_id)
    response = public_api.client.open(url, method=endpoint.method, json=endpoint.json)
    if endpoint.method == "GET" and endpoint.role in ("reader", "auditor"):
        assert response.status_code not in (401, 403), response.get_data(as_text=True)
    else:
        assert response.status_code == 401, response.get_data(as_text=True)


def test_a_token_revoked_through_the_cli_is_refused(server: Server, claim: tuple[str, str]) -> None:
    token = create_token(server.env, "short-lived", "reader")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v1/claims/{claim[0]}", headers=headers).status_code == 200
    listed = cli(server.env, "tokens", "list").stdout
    token_id = next(line.split()[0] for line in listed.splitlines() if " short-lived " in line)
    revoked = cli(server.env, "tokens", "revoke", token_id).stdout
    assert revoked.strip() == f"revoked token {token_id}"
    assert httpx.get(f"{server.url}/v1/claims/{claim[0]}", headers=headers).status_code == 401
    log = cli(server.env, "tokens", "log").stdout
    assert f"revoked  {token_id}  by cli:e2e" in log
    again = cli(server.env, "tokens", "revoke", token_id, check=False)
    assert again.returncode != 0
    assert again.stderr.strip().startswith("Error: no active token")
