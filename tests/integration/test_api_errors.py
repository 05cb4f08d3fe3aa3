"""Hostile input: each case gets the right 4xx problem (never HTML, never a traceback) and
writes nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from api import create_app
from tests.support.api_harness import (
    CLAIM,
    DENIAL,
    HOSTILE_BODIES,
    HOSTILE_FIELDS,
    ApiHarness,
    assert_problem,
    body,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> ApiHarness:
    return ApiHarness.create(tmp_path_factory.mktemp("errors"))


@pytest.fixture(scope="module")
def claim(api: ApiHarness) -> str:
    return api.new_claim()


def raw(api: ApiHarness, path: str, data: bytes | str, content_type: str = "application/json",
        method: str = "POST", **headers: str) -> Any:
    return api.client.open(
        path, method=method, data=data, content_type=content_type,
        headers={**api.auth("editor"), **headers},
    )


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"), HOSTILE_BODIES, ids=[b[0] for b in HOSTILE_BODIES]
)
def test_hostile_bodies(
    api: ApiHarness, claim: str, name: str, data: bytes, content_type: str, status: int
) -> None:
    head = api.store.head()
    assert_problem(raw(api, f"/v1/claims/{claim}/denials", data, content_type), status)
    assert api.store.head() == head


@pytest.mark.parametrize(
    ("name", "payload", "paths"), HOSTILE_FIELDS, ids=[f[0] for f in HOSTILE_FIELDS]
)
def test_invalid_fields_are_422_by_path(
    api: ApiHarness, claim: str, name: str, payload: Any, paths: tuple[str, ...]
) -> None:
    head = api.store.head()
    text = json.dumps(payload, ensure_ascii=False)
    if name == "lone surrogate":  # sent as raw bytes it is not UTF-8: 400 malformed-json
        as_bytes = raw(api, f"/v1/claims/{claim}/denials", text.encode("utf-8", "surrogatepass"))
        assert assert_problem(as_bytes, 400)["type"].endswith("/malformed-json")
        text = json.dumps(payload)  # as the escape \ud800 it is JSON, and the field refuses it
    assert_problem(raw(api, f"/v1/claims/{claim}/denials", text.encode()), 422, *paths)
    assert api.store.head() == head


def test_a_body_over_the_limit_is_413(api: ApiHarness, claim: str) -> None:
    big = json.dumps(body(DENIAL, note="x" * (5 * 1024 * 1024))).encode()
    problem = assert_problem(raw(api, f"/v1/claims/{claim}/denials", big), 413)
    assert "1048576" in problem["detail"]


def test_the_body_limit_is_configurable(tmp_path: Path) -> None:
    small = ApiHarness.create(tmp_path, MAX_BODY_BYTES=1024)
    assert_problem(small.post("/v1/claims", body(CLAIM, statement="x" * 1500)), 413)
    assert small.post("/v1/claims", CLAIM).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/v1/claims/not-a-uuid", 404),
        ("GET", "/v1/claims/00000000-0000-0000-0000-00000000000g", 404),
        ("GET", "/v1/claims/%2e%2e/%2e%2e/etc/passwd", 404),
        ("GET", "/v1//claims", 404),
        ("GET", "/v1/claims/", 404),
        ("POST", "/v1/claims/%00/denials", 404),
        ("DELETE", "/v1/claims", 405),
        ("PUT", "/v1/events", 405),
        ("PATCH", "/healthz", 405),
    ],
)
def test_routing_errors_are_problems(api: ApiHarness, method: str, path: str, status: int) -> None:
    head = api.store.head()
    response = api.client.open(path, method=method, headers=api.auth("admin"))
    assert_problem(response, status)
    if status == 405:
        assert "Allow" in response.headers
    assert api.store.head() == head


def test_every_answer_carries_the_security_headers(api: ApiHarness, claim: str) -> None:
    for response in (
        api.get(f"/v1/claims/{claim}"),
        api.get("/nowhere"),
        api.client.get("/healthz"),
        raw(api, f"/v1/claims/{claim}/denials", b"{"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" in response.headers
        assert response.headers["Cache-Control"] == "no-store"
        assert b"Traceback" not in response.data
        assert b"<html" not in response.data.lower()


def test_an_unexpected_error_is_a_bare_500_problem(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path)

    def boom() -> str:
        raise ZeroDivisionError("secret internals")

    api.app.add_url_rule("/boom", view_func=boom)
    problem = assert_problem(api.client.get("/boom"), 500)
    assert "secret internals" not in json.dumps(problem)
    assert "ZeroDivisionError" not in json.dumps(problem)


def test_an_unreachable_store_is_503_with_retry_after(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}", "TESTING": True})  # a directory
    client = app.test_client()
    for response in (
        client.get("/readyz"),
        client.get(f"/v1/claims/{uuid.uuid4()}", headers={"Authorization": "Bearer clt_x"}),
    ):
        assert_problem(response, 503)
        assert response.headers["Retry-After"] == "1"
    assert client.get("/healthz").status_code == 200
