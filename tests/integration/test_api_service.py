"""The service around the API: health, readiness, metrics, the OpenAPI document, rate limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.state import ledger_state
from tests.support.api_harness import DENIAL, ApiHarness, assert_problem


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path)


def test_health_and_readiness(api: ApiHarness) -> None:
    assert api.client.get("/healthz").get_json() == {"status": "ok"}
    with api.app.app_context():
        ledger_state().ready_checks["redis"] = lambda: None
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "checks": {"store": "ok", "redis": "ok"}}


def test_redis_down_is_reported_but_the_api_stays_ready(api: ApiHarness) -> None:
    ready = api.client.get("/readyz")  # the harness's Redis is a closed port
    assert ready.status_code == 200  # writes and single-claim reads never need Redis
    assert ready.get_json() == {"status": "degraded",
                                "checks": {"store": "ok", "redis": "unavailable"}}


def test_a_failing_readiness_check_is_503_naming_it(api: ApiHarness) -> None:
    def store() -> None:
        raise ConnectionError("the database is down")

    with api.app.app_context():
        ledger_state().ready_checks["store"] = store
    problem = assert_problem(api.client.get("/readyz"), 503)
    assert problem["checks"] == {"store": "unavailable", "redis": "unavailable"}
    assert "database is down" not in problem["detail"]
    assert problem["detail"] == "Not ready: store unavailable."


def test_metrics_count_requests_by_route_and_status_and_appends_by_type(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL, **{"If-Match": '"1"'})
    response = api.client.get("/metrics")
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    route = "/v1/claims/<uuid:claim_id>/denials"
    assert f'ledger_http_requests_total{{method="POST",route="{route}",status="412"}} 1.0' in text
    assert 'ledger_events_appended_total{type="ClaimDenied"} 1.0' in text
    assert re.search(r'ledger_http_request_duration_seconds_bucket\{le="0.5",method="POST"', text)


def test_the_openapi_document_describes_every_operation(api: ApiHarness) -> None:
    spec = api.client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    operations = {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert {
        "POST /v1/claims",
        "GET /v1/claims/{claim_id}",
        "GET /v1/claims/{claim_id}/history",
        "POST /v1/claims/{claim_id}/corrections",
        "POST /v1/imports",
        "GET /v1/events",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    } <= operations
    schemas = spec["components"]["schemas"]
    new_claim = schemas["NewClaim"]
    assert new_claim["additionalProperties"] is False
    assert {"statement", "claimant", "appearance"} <= set(new_claim["required"])
    assert new_claim["properties"]["occurred_at"]["format"] == "date-time"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    problem = spec["components"]["responses"]["UNPROCESSABLE_ENTITY"]["content"]
    assert "application/problem+json" in problem
    denials = spec["paths"]["/v1/claims/{claim_id}/denials"]["post"]
    assert {"401", "403", "422", "default"} <= {str(code) for code in denials["responses"]}
    assert {p["name"] for p in denials["parameters"]} == {"If-Match", "Idempotency-Key"}


def test_the_docs_page_is_served(api: ApiHarness) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert b"/docs/assets/swagger-init.js" in page.data
    init = api.client.get("/docs/assets/swagger-init.js")
    assert init.status_code == 200
    assert b"/openapi.json" in init.data
    assert "cdn.jsdelivr.net" not in page.headers["Content-Security-Policy"]


def test_rate_limits_answer_429_with_retry_after_per_token(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, RATE_LIMIT="3/minute")
    claim_id = api.new_claim()  # the editor's first request
    for _ in range(2):
        assert api.get(f"/v1/claims/{claim_id}", role="editor").status_code == 200
    limited = api.get(f"/v1/claims/{claim_id}", role="editor")
    problem = assert_problem(limited, 429)
    assert problem["type"].endswith("/rate-limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert api.get(f"/v1/claims/{claim_id}", role="reader").status_code == 200  # per token
    assert api.client.get("/healthz").status_code == 200  # only /v1 is limited
