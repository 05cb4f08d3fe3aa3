"""Every endpoint for every role against a real server: 401 without a token, 403 without the
role, 2xx with it; a revoked token is 401 at once."""

from __future__ import annotations

import httpx
import pytest

from api.tokens import ROLE_GRANTS, ROLES
from tests.e2e.conftest import Server, cli, create_token
from tests.integration.test_api_support import CLAIM, ENDPOINTS, Endpoint, fill

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def claim(server: Server) -> tuple[str, str]:
    with server.client("editor") as client:
        event = client.post("/v1/claims", json=CLAIM).json()
    return event["claim_id"], event["id"]


def send(client: httpx.Client, endpoint: Endpoint, claim: tuple[str, str]) -> httpx.Response:
    url = endpoint.url(*claim)
    if endpoint.ndjson is not None:
        return client.post(
            url, content=endpoint.ndjson, headers={"Content-Type": "application/x-ndjson"}
        )
    if endpoint.json is not None:
        return client.request(endpoint.method, url, json=fill(endpoint.json, claim[1]))
    return client.request(endpoint.method, url)


@pytest.mark.parametrize("role", [*ROLES, None])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_endpoint_role_matrix(
    server: Server, claim: tuple[str, str], endpoint: Endpoint, role: str | None
) -> None:
    head = server.head()
    with server.client(role) as client:
        response = send(client, endpoint, claim)
    if role is None:
        expected = 401
    elif endpoint.role in ROLE_GRANTS[role]:
        expected = endpoint.success
    else:
        expected = 403
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == PROBLEM
        assert server.head() == head
    else:
        assert response.headers["cache-control"] == "no-store"


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
