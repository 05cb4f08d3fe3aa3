"""``claimledger serve`` and ``tokens`` as an operator meets them: metrics shared by the
workers, the docs, public read, rate limits, and clear refusals."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api_harness import CLAIM
from tests.support.server import CLI, Server, cli, ledger_env, start_server


def requests_total(text: str, route: str, status: str = "200") -> float:
    labels = f'method="GET",route="{route}",status="{status}"'
    pattern = rf"ledger_http_requests_total{{{re.escape(labels)}}} (\S+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_metrics_add_up_across_the_workers(server: Server) -> None:
    def total() -> float:
        return requests_total(httpx.get(f"{server.url}/metrics").text, "/v1/events")

    before = total()
    with server.client("auditor") as auditor:
        for _ in range(20):
            assert auditor.get("/v1/events", headers={"Connection": "close"}).status_code == 200
    assert total() - before == 20
    text = httpx.get(f"{server.url}/metrics").text
    assert "ledger_http_request_duration_seconds_bucket" in text


def test_the_openapi_document_and_docs_page_are_served(server: Server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_serve_refuses_a_store_that_was_never_initialised(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    result = subprocess.run(
        [*CLI, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("Error: the store is not ready (run `claimledger init` first)")
    assert "Traceback" not in result.stderr


def test_tokens_create_refuses_unknown_roles_and_reused_names(server: Server) -> None:
    bad_role = cli(server.env, "tokens", "create", "--name", "x", "--role", "root", check=False)
    assert bad_role.returncode != 0
    assert bad_role.stdout == ""
    reused = cli(server.env, "tokens", "create", "--name", "e2e-editor", "--role", "editor",
                 check=False)
    assert reused.returncode != 0
    assert "already named" in reused.stderr
    assert reused.stdout == ""


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker (so its in-memory limits are exact), public read, five requests a minute."""
    running = start_server(
        tmp_path_factory.mktemp("public"),
        workers=1,
        LEDGER_PUBLIC_READ="1",
        LEDGER_RATE_LIMIT="5/minute",
    )
    yield running
    running.stop()


def test_public_read_lets_anonymous_clients_read_but_not_write(public: Server) -> None:
    with public.client("editor") as editor:
        claim_id = editor.post("/v1/claims", json=CLAIM).json()["claim_id"]
    with public.client() as anonymous:
        state = anonymous.get(f"/v1/claims/{claim_id}")
        assert state.status_code == 200
        assert state.headers["cache-control"] == "no-cache"
        assert anonymous.get("/v1/events").status_code == 200
        assert anonymous.post("/v1/claims", json=CLAIM).status_code == 401
        assert anonymous.get("/v1/tokens").status_code == 401


def test_rate_limits_are_per_token_with_retry_after(public: Server) -> None:
    with public.client("auditor") as auditor:
        statuses = [auditor.get("/v1/events").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        limited = auditor.get("/v1/events")
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
    with public.client("admin") as admin:
        assert admin.get("/v1/events").status_code == 200
    assert httpx.get(f"{public.url}/healthz").status_code == 200
