"""Accessibility of every desk page, measured: axe-core (vendored under tests/browser/vendor,
MPL-2.0) injected through Playwright into Debian's Chromium, over every page signed in and
out, with data and empty (a filter that matches nothing; with ``LEDGER_TEST_LONG=1`` also a
second desk on an empty ledger with public reading on): no serious or critical violation.
Then an editor who uses only the keyboard records a claim, a denial and a correction."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import shoot, sign_in
from tests.support.long import LONG
from tests.support.server import Server, serving_with_views

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")
RUN_AXE = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
}
"""




@pytest.fixture(scope="module")
def empty_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server | None]:
    """A desk on an empty ledger, readable without signing in (a second server: only in
    the long run)."""
    if not LONG:
        yield None
        return
    with serving_with_views(tmp_path_factory.mktemp("empty-desk"), workers=1,
                            LEDGER_PUBLIC_READ="1") as server:
        yield server


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    """A page whose context lets the test inject axe-core past the desk's CSP (the desk's
    own scripts still run under it: only injected ones are let through)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True,
                                  locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in SERIOUS]


def audit(page: Any, url: str | None = None) -> str:
    """Open ``url`` (or stay) and fail on any serious or critical violation."""
    if url is not None:
        page.goto(url)
    found = violations(page)
    assert not found, f"{page.url}: {found}"
    return str(page.url)


def test_every_desk_page_has_no_serious_violation(axe_page: Any, desk_server: Server,
                                                  empty_desk: Server | None) -> None:
    page, base = axe_page, desk_server.url
    # signed out: the sign-in page (also after a wrong token), a page that is not there
    audit(page, f"{base}/desk/sign-in")
    page.get_by_label("API token").fill("clt_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    audit(page)
    audit(page, f"{base}/desk/claims/00000000-0000-4000-8000-000000000000")
    if empty_desk is not None:  # signed out, an empty ledger, public reading: the empty list
        audit(page, f"{empty_desk.url}/desk/")
        expect(page.locator(".empty")).to_contain_text("No claims yet")
        audit(page, f"{empty_desk.url}/desk/sign-in")

    sign_in(page, desk_server, "editor")
    audit(page)  # the list, with data
    audit(page, f"{base}/desk/?status=retracted&tag=no-such-tag")  # and empty
    expect(page.locator(".empty")).to_contain_text("No claims match these filters")
    audit(page, f"{base}/desk/new")
    page.get_by_role("button", name="Record claim").click()  # refused: messages shown
    expect(page.locator("#claims-summary")).to_be_focused()
    audit(page)
    page.goto(f"{base}/desk/")
    page.locator("table.claims a").first.click()
    claim_url = page.url.split("#")[0]
    audit(page)
    for summary in page.locator("details.entry-form > summary").all():
        summary.click()  # every form open
    audit(page)
    form = page.locator("#form-denials")
    form.get_by_label("Denied by: name").fill("   ")
    form.get_by_role("button", name="Record denial").click()
    audit(page)  # a refused entry form
    audit(page, f"{claim_url}?as_of=2014-09-16T00:00:00Z&valid_at=2014-09-16T00:00:00Z")
    audit(page, f"{claim_url}/history")
    audit(page, f"{claim_url}/record")
    page.goto(claim_url)
    page.locator("td.actions").get_by_role("link", name=re.compile("Correct or void")).first.click()
    audit(page)  # the correction page
    page.get_by_role("button", name="Record", exact=True).click()
    audit(page)  # refused: nothing chosen

    page.context.clear_cookies()
    sign_in(page, desk_server, "reader")
    page.goto(claim_url)
    audit(page)  # no forms


def tab_to(page: Any, target: Any, limit: int = 120) -> None:
    """Press Tab (only the keyboard) until ``target`` has the focus."""
    handle = target.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
    raise AssertionError(f"Tab never reached {target} in {limit} presses")


def type_into(page: Any, target: Any, text: str) -> None:
    tab_to(page, target)
    page.keyboard.type(text)


def test_a_keyboard_only_editor_records_a_claim_a_denial_and_a_correction(
    axe_page: Any, desk_server: Server
) -> None:
    page, base = axe_page, desk_server.url
    page.goto(f"{base}/desk/sign-in")
    type_into(page, page.get_by_label("API token"), desk_server.tokens["editor"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/desk/")

    tab_to(page, page.get_by_role("link", name="Record a claim"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/desk/new")
    type_into(page, page.get_by_label("Statement"), "Iran never asked to join the coalition.")
    type_into(page, page.get_by_label("Claimant: name"), "Hassan Rouhani")
    type_into(page, page.get_by_label("Appearance: outlet"), "IRNA")
    type_into(page, page.get_by_label(re.compile(r"^Occurred on \(")), "09182014")
    type_into(page, page.get_by_label("Occurred on: time of day"), "1030AM")
    type_into(page, page.get_by_label("Time zone"), "Asia/Tehran")
    tab_to(page, page.get_by_role("button", name="Record claim"))
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_contain_text("18 Sep 2014 10:30 Asia/Tehran")
    expect(page.locator("#statement")).to_contain_text("Iran never asked")

    tab_to(page, page.locator("#form-denials > summary"))
    page.keyboard.press("Enter")
    form = page.locator("#form-denials")
    type_into(page, form.get_by_label("Denied by: name"), "U.S. Department of State")
    type_into(page, form.get_by_label("Note"), "Iran asked twice, says the State Department.")
    tab_to(page, form.get_by_role("button", name="Record denial"))
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_contain_text("Denial recorded as version 2")

    tab_to(page, page.locator("tr.entry-denial").get_by_role(
        "link", name=re.compile("Correct or void")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("denial by U.S. Department")
    tab_to(page, page.get_by_label(re.compile("^Correct it")))
    page.keyboard.press("Space")
    expect(page.get_by_label(re.compile("^Correct it"))).to_be_checked()
    tab_to(page, page.get_by_label("Note"))
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("Iran asked once, says the State Department.")
    type_into(page, page.get_by_label("Reason"), "The spokesperson said once, not twice.")
    tab_to(page, page.get_by_role("button", name="Record", exact=True))
    shoot(page, "keyboard-correction", full_page=False)
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_contain_text("Correction of v2 recorded as version 3")
    expect(page.locator("#state")).to_contain_text("Iran asked once")
