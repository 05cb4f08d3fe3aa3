"""Headers every answer gets: request id, nosniff, referrer policy, CSP and Cache-Control.

Each appears exactly once; a header a view set itself is kept (the desk's CSP and
referrer policy), except Cache-Control, which is no-store whenever credentials came.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import LedgerFlask
from tests.support.api_harness import ApiHarness

API_CSP = "default-src 'none'; frame-ancestors 'none'"
ONCE = ("X-Request-Id", "X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy",
        "Cache-Control")


def _once(headers: object, name: str) -> str:
    values = headers.getlist(name)  # type: ignore[attr-defined]
    assert len(values) == 1, (name, values)
    return str(values[0])


@pytest.fixture
def api(tmp_path: Path) -> ApiHarness:
    return ApiHarness.create(tmp_path, PUBLIC_READ=True)


def test_api_answers_carry_each_header_once(api: ApiHarness) -> None:
    claim_id = api.new_claim()
    cases = [
        ("GET", f"/v1/claims/{claim_id}/history", api.auth("reader"), 200, "no-store"),
        ("GET", f"/v1/claims/{claim_id}/history", {}, 200, "no-cache"),
        ("GET", f"/v1/claims/{claim_id}/history", {"Authorization": "Bearer nope"}, 401,
         "no-store"),
        ("POST", f"/v1/claims/{claim_id}/notes", api.auth("editor"), 201, "no-store"),
        ("GET", "/v1/nowhere", {}, 404, "no-cache"),
        ("GET", "/healthz", {}, 200, "no-store"),
        ("GET", "/openapi.json", {}, 200, "no-store"),
    ]
    for method, path, headers, status, cache in cases:
        body = {"text": "Checked."} if method == "POST" else None
        response = api.client.open(path, method=method, headers=headers, json=body)
        assert response.status_code == status, (path, response.get_json())
        for name in ONCE:
            _once(response.headers, name)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Content-Security-Policy"] == API_CSP
        assert response.headers["Cache-Control"] == cache, path


def test_the_request_id_is_echoed_when_well_formed_and_made_up_otherwise(api: ApiHarness) -> None:
    given = api.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert _once(given.headers, "X-Request-Id") == "abc-123"
    made = api.client.get("/healthz", headers={"X-Request-Id": "no spaces allowed"})
    assert _once(made.headers, "X-Request-Id") not in ("", "no spaces allowed")


def test_docs_get_their_own_csp_and_the_desk_keeps_its_own_headers(api: ApiHarness) -> None:
    docs = api.client.get("/docs")
    assert "script-src" in _once(docs.headers, "Content-Security-Policy")
    page = api.client.get("/desk/sign-in")
    assert page.status_code == 200
    assert "script-src" in _once(page.headers, "Content-Security-Policy")
    assert _once(page.headers, "Referrer-Policy") == "same-origin"
    assert _once(page.headers, "Cache-Control") == "no-store"
    for name in ONCE:
        _once(page.headers, name)


def test_a_view_s_own_cache_control_gives_way_to_no_store_with_credentials(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path)

    @api.app.get("/v1/cached")
    def cached() -> tuple[str, int, dict[str, str]]:
        return "{}", 200, {"Cache-Control": "max-age=60"}

    cached.required_role = "reader"  # type: ignore[attr-defined]
    response = api.client.get("/v1/cached", headers=api.auth("reader"))
    assert _once(response.headers, "Cache-Control") == "no-store"


def test_ensure_sync_remembers_plain_functions_only() -> None:
    app = LedgerFlask("t")

    def plain() -> None:
        return None

    async def coroutine() -> None:
        return None

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(plain) is plain
    for _ in range(2):  # never remembered as plain: Flask's own answer each time
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(coroutine)


def test_docs_and_their_assets_come_from_this_origin_only(api: ApiHarness) -> None:
    page = api.client.get("/docs")
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "http" not in html.replace("<!DOCTYPE html>", "")  # no CDN, no other host
    assert "<script>" not in html  # no inline script
    for path, kind in (
        ("/docs/assets/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/assets/swagger-init.js", "text/javascript"),
        ("/docs/assets/swagger-ui.css", "text/css"),
    ):
        asset = api.client.get(path)
        assert asset.status_code == 200, path
        assert asset.headers["Content-Type"].startswith(kind)
    for response in (page, asset):
        csp = _once(response.headers, "Content-Security-Policy")
        assert "script-src 'self';" in csp
        assert "style-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert "http" not in csp
    for missing in ("/docs/assets/index.html", "/docs/assets/..%2fREADME.md", "/docs/assets/"):
        assert api.client.get(missing).status_code == 404, missing
