"""``/docs`` in a real headless Chromium: Swagger UI from this origin, under a self-only CSP.

Every request the page makes is to the server itself (none to a CDN), the policy blocks
nothing the page needs, and the rendered UI lists the API's operations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.support.server import Server, start_server


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A plain ``claimledger serve`` (no views needed for /docs)."""
    server = start_server(tmp_path_factory.mktemp("docs"))
    try:
        yield server
    finally:
        server.stop()


def test_the_docs_load_swagger_ui_from_this_origin_only(page: Any, docs_server: Server) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = page.goto(f"{docs_server.url}/docs")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "http" not in csp  # no other host is allowed
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("claim ledger")
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.locator(".opblock").count() > 20  # the operations are listed
    assert page.evaluate("window.__violations") == []
    ours = urlsplit(docs_server.url).netloc
    elsewhere = [url for url in requested
                 if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != ours]
    assert elsewhere == []
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in requested)
