"""Security headers on every answer, CORS closed unless configured, no debug mode.

Every route of the app (and its error answers: 404, 405, 413, 401, problems) carries
``X-Content-Type-Options: nosniff`` and a ``Content-Security-Policy``; authenticated
answers are ``Cache-Control: no-store``. No answer grants a cross-origin caller unless
``LEDGER_CORS_ORIGINS`` lists it, and ``FLASK_DEBUG`` does not turn debug mode on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from tests.support.api_harness import ApiHarness
from tests.support.routes import build_app, routes
from tests.support.server import Server

PROBLEM = "application/problem+json"
EVIL = "https://evil.example"


def concrete(path: str, claim_id: str) -> str:
    """A route's path with its parameters filled in."""
    return (path.replace("{claim_id}", claim_id).replace("{job_id}", "cl-none")
            .replace("{kind}", "notes").replace("{filename}", "missing.css"))


def check_headers(response: object, authenticated: bool) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "access-control-allow-origin" not in headers
    if authenticated:
        assert headers["cache-control"] == "no-store"
    body = response.text if hasattr(response, "text") else ""  # type: ignore[attr-defined]
    assert "Traceback" not in body
    assert "__debugger__" not in body


#: a stream stays open and a rebuild is real work; their headers come from the same hook
ROUTES = [
    r for r in routes(build_app())
    if r.path not in ("/v1/events/stream", "/v1/projections/rebuild")
]


@pytest.mark.parametrize("role", [None, "admin"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_answers_with_the_security_headers(
    server: Server, claim: str, route: object, role: str | None
) -> None:
    method, path = route.method, route.path  # type: ignore[attr-defined]
    with server.client(role, follow_redirects=False) as client:
        response = client.request(
            method, concrete(path, claim), headers={"Origin": EVIL},
            **({"json": {}} if method == "POST" and path.startswith("/v1/") else {}),
        )
    assert response.status_code < 500, response.text[:300]
    check_headers(response, authenticated=role is not None and path.startswith("/v1/"))


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/nowhere", {}, 404),
        ("GET", "/v1/claims/not-a-uuid", {}, 404),
        ("DELETE", "/v1/claims", {}, 405),
        ("POST", "/v1/claims", {"content": b"x" * (2 * 1024 * 1024),
                                "headers": {"Content-Type": "application/json"}}, 413),
        ("POST", "/v1/claims", {"content": b"{", "headers": {"Content-Type": "application/json"}},
         400),
        ("POST", "/v1/claims", {"json": {"statement": 1}}, 422),
        ("GET", "/?__debugger__=yes&cmd=resource&f=debugger.js", {}, 404),
        ("GET", "/console", {}, 404),
    ],
)
def test_error_answers_carry_the_headers_and_no_debugger(
    server: Server, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    with server.client("editor") as client:
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    check_headers(response, authenticated=path.startswith("/v1/"))


def test_html_pages_have_a_content_security_policy(server: Server, claim: str) -> None:
    with server.client() as client:
        for path in ("/docs", "/desk/sign-in", "/desk/", f"/desk/claims/{claim}"):
            response = client.get(path)
            csp = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp, path
            assert "'unsafe-eval'" not in csp
            if response.status_code == 200:
                assert response.headers["content-type"].startswith("text/html"), path


def test_cors_is_closed_by_default(server: Server) -> None:
    with server.client() as client:
        preflight = client.options(
            "/v1/claims",
            headers={"Origin": EVIL, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, content-type"},
        )
        simple = client.get("/healthz", headers={"Origin": EVIL})
    for response in (preflight, simple):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


@pytest.fixture(scope="module")
def cors_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    api = ApiHarness.create(
        Path(tmp_path_factory.mktemp("cors")), CORS_ORIGINS=("https://desk.example.org",)
    )
    yield api
    api.store.close()


def test_a_configured_origin_alone_is_granted(cors_api: ApiHarness) -> None:
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers":
           "authorization"}
    granted = cors_api.client.options(
        "/v1/claims", headers={"Origin": "https://desk.example.org", **ask}
    )
    assert granted.headers["access-control-allow-origin"] == "https://desk.example.org"
    assert "POST" in granted.headers["access-control-allow-methods"]
    assert "Authorization" in granted.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in granted.headers
    refused: TestResponse = cors_api.client.options(
        "/v1/claims", headers={"Origin": EVIL, **ask}
    )
    assert not [h for h, _ in refused.headers if h.lower().startswith("access-control-")]
    assert "Origin" in refused.headers["vary"]
    read = cors_api.get("/v1/tokens", Origin="https://desk.example.org")
    assert read.headers["access-control-allow-origin"] == "https://desk.example.org"
    assert "ETag" in read.headers["access-control-expose-headers"]


def test_flask_debug_in_the_environment_does_not_turn_debug_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    api = ApiHarness.create(tmp_path)
    try:
        assert api.app.debug is False

        @api.app.get("/boom")
        def boom() -> str:
            raise RuntimeError("secret internals")

        response = api.client.get("/boom")
        assert response.status_code == 500
        assert response.mimetype == PROBLEM
        assert "secret internals" not in response.get_data(as_text=True)
        assert "Traceback" not in response.get_data(as_text=True)
    finally:
        api.store.close()
