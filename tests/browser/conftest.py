"""Browser fixtures: Debian's headless Chromium driven by Playwright, and a real desk server.

Chromium is never downloaded (no ``playwright install``): the tests need the system's
``/usr/bin/chromium`` and fail loudly, with the install command, when it is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.paths import EXAMPLE, ROOT
from tests.support.server import Server, serving_with_views
from tests.support.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOC_SCREENSHOTS = ROOT / "docs" / "screenshots"
#: set to 1 to refresh the screenshots committed under docs/screenshots
UPDATE_DOCS = "LEDGER_UPDATE_SCREENSHOTS"


def shoot(page: Any, name: str, *, full_page: bool = True, docs: bool = False) -> Path:
    """Save a screenshot under test-artifacts/browser (and docs/screenshots when asked to)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    target = DOC_SCREENSHOTS / f"{name}.png"
    if docs and (os.environ.get(UPDATE_DOCS) == "1" or not target.exists()):
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (the system's); fails, never skips, when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium ({INSTALL_HINT})",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need playwright: .venv/bin/pip install playwright "
                    "(never `playwright install`: the system's Chromium is used)", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A desk on a real ``claimledger serve`` with Redis and a worker, story loaded and viewed.

    The desk's claim list reads the views, so the worker must have folded the story first.
    """
    with serving_with_views(
        tmp_path_factory.mktemp("desk"), workers=4,
        LEDGER_STREAM_MAX_SECONDS="15", LEDGER_STREAM_HEARTBEAT_SECONDS="2",
    ) as server:
        with server.client("editor") as client:
            response = client.post(
                "/v1/imports", content=EXAMPLE.read_bytes(),
                headers={"Content-Type": "application/x-ndjson"},
            )
            assert response.status_code == 201, response.text
            head = server.head()
            wait_until(
                lambda: client.get(
                    "/v1/claims", params={"limit": 1, "min_position": head}
                ).status_code == 200,
                60, "the views to hold the imported story",
            )
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page, 1280 pixels wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("response", lambda r: errors.append(f"{r.request.method} {r.url}: {r.status}")
              if r.status >= 400 and r.status != 422 else None)
    expected = "the server responded with a status of 422"  # a form that failed validation
    yield opened
    context.close()
    errors = [e for e in errors if expected not in e]
    assert not errors, f"the page reported errors: {errors}"


def sign_in(page: Any, server: Server, role: str) -> None:
    """Sign in through the form with ``role``'s token."""
    page.goto(f"{server.url}/desk/")
    assert "/desk/sign-in" in page.url
    page.get_by_label("API token").fill(server.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/desk/")


def api(server: Server, role: str = "editor") -> httpx.Client:
    """An API client for changes made 'by someone else' while a page is open."""
    return server.client(role)
