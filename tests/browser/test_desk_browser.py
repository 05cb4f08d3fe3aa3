"""The desk in a real headless Chromium against a real ``claimledger serve``.

An editor signs in, records a claim from the sample story, adds a denial and a
corroboration and watches the status change (also live, when someone else appends),
voids an entry, replays the claim as of an earlier time and checks the verified
history; screenshots go to test-artifacts/browser. Then basic accessibility checks.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import api, shoot, sign_in
from tests.e2e.conftest import Server

STATEMENT = (
    "Secretary of State John Kerry personally asked Iranian Foreign Minister Javad Zarif"
    " for Iran's cooperation against ISIL, and Zarif rejected the request."
)


def status(page: Any) -> Any:
    return page.locator("#claim-status")


def open_form(page: Any, kind: str) -> Any:
    form = page.locator(f"#form-{kind}")
    form.locator("summary").click()
    return form


def test_an_editor_logs_the_story_and_replays_it(page: Any, desk_server: Server) -> None:
    sign_in(page, desk_server, "editor")
    expect(page.get_by_role("heading", name="Claims")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("(editor)")

    page.get_by_role("link", name="Record a claim").click()
    page.get_by_label("Statement").fill(STATEMENT)
    page.get_by_label("Claimant: name").fill("Ali Khamenei")
    page.get_by_label("Appearance: outlet").fill("Fars News Agency")
    page.get_by_label("Appearance: published at").fill("2014-09-15T13:00:00+04:30")
    page.get_by_label("Appearance: quote").fill(
        "The same U.S. secretary of state had personally demanded Zarif…")
    page.get_by_label("Tags").fill("iran, isil, us-iran-contacts")
    page.get_by_label("Occurred at").fill("2014-09-15T11:00:00+04:30")
    page.get_by_role("button", name="Record claim").click()
    expect(page.locator("#statement")).to_contain_text("John Kerry personally asked")
    expect(status(page)).to_have_text("unverified")
    claim_url = page.url.split("#")[0]
    claim_id = claim_url.rsplit("/", 1)[1]

    denial = open_form(page, "denials")
    denial.get_by_label("Denied by: name").fill("U.S. Department of State")
    denial.get_by_label("Appearance (optional): URL").fill("freebeacon dot com")
    denial.get_by_label("Occurred at").fill("2014-09-15T15:00:00-04:00")
    denial.get_by_role("button", name="Record denial").click()
    form = page.locator("#form-denials")
    expect(form.locator("#denials-appearance-url-error-1")).to_have_text("Not a valid URL.")
    expect(form.locator("#denials-appearance-outlet-error-1")).to_contain_text("Missing data")
    shoot(page, "02-validation-messages", full_page=False)
    form.get_by_label("Appearance (optional): URL").fill(
        "http://freebeacon.com/national-security/iran-supreme-leader-mocks-obamas-isil-strategy")
    form.get_by_label("Appearance (optional): outlet").fill("Washington Free Beacon")
    form.get_by_label("Note").fill("Iran is not welcome in the coalition against ISIL.")
    form.get_by_role("button", name="Record denial").click()
    expect(page.locator(".notice")).to_contain_text("Denial recorded as version 2")
    expect(status(page)).to_have_text("denied")

    corroboration = open_form(page, "corroborations")
    corroboration.get_by_label("Corroborated by: name").fill("The New York Times")
    corroboration.get_by_label("Corroborated by: identifier URI").fill(
        "https://www.wikidata.org/wiki/Q9684")
    corroboration.get_by_label("Occurred at").fill("2014-09-15T08:00:00-04:00")
    corroboration.get_by_role("button", name="Record corroboration").click()
    expect(status(page)).to_have_text("disputed")

    # someone else appends while the page is open: the page follows the live feed
    expect(page.locator("[data-live-stream]")).to_have_attribute("data-live", "open")
    with api(desk_server) as client:
        kerry = {"by": {"name": "John Kerry"}, "occurred_at": "2014-09-15T16:00:00+02:00",
                 "note": "Said in Paris he was open to talking with Iran about ISIL."}
        assert client.post(f"/v1/claims/{claim_id}/corroborations", json=kerry).status_code == 201
        verdict = {"scale": "standard", "value": "mostly-true", "occurred_at":
                   "2014-09-16T10:00:00-04:00", "explanation": "Kerry's own words partly"
                   " corroborate an overture; the State Department's line contradicts it."}
        assert client.post(f"/v1/claims/{claim_id}/verdicts", json=verdict).status_code == 201
    expect(page.locator("#claim-verdict")).to_have_text("Mostly true")
    expect(page.locator("#live-status")).to_contain_text("Updated")
    expect(page.locator("#claim-version")).to_have_text("5")
    assert page.url.split("#")[0] == claim_url, "updated in place, not reloaded"

    denial_row = page.locator("tr.entry-denial")
    denial_recorded_at = page.locator("tr.entry-denial td.time").nth(1).inner_text()
    denial_row.get_by_role("link", name=re.compile("Correct or void")).click()
    corrections = page.locator("#form-corrections")
    expect(corrections).to_have_attribute("open", "")
    expect(corrections.get_by_label("Entry")).to_have_value(re.compile(".+"))
    corrections.get_by_label("Kind").select_option("void")
    corrections.get_by_label("Reason").fill("The State Department's line was about another claim.")
    corrections.get_by_role("button", name="Record correction").click()
    expect(status(page)).to_have_text("corroborated")
    expect(page.locator("tr.entry-denial")).to_have_class(re.compile("voided"))
    expect(page.locator("svg.timeline .mark.denial.voided")).to_have_count(1)
    expect(page.locator("svg.timeline path.link-void")).to_have_count(1)
    expect(page.locator("svg.timeline .mark.corroboration")).to_have_count(2)
    page.locator("#timeline").scroll_into_view_if_needed()
    shoot(page, "claim", docs=True)
    page.locator("#timeline").screenshot(path=str(shoot(page, "03-claim-page").with_name(
        "04-timeline.png")))

    page.locator("tr.entry-denial").get_by_role("link", name=re.compile("Replay")).click()
    expect(page.locator(".replaying")).to_contain_text(denial_recorded_at[:16])
    expect(status(page)).to_have_text("denied")
    expect(page.locator("#form-denials")).to_have_count(0)
    shoot(page, "05-replay-as-of")
    page.get_by_role("link", name="Back to now").click()
    expect(status(page)).to_have_text("corroborated")

    page.get_by_role("link", name="History, hashes and verification").click()
    expect(page.locator("#verification")).to_contain_text("Verified")
    expect(page.locator("#verification")).to_contain_text("inclusion proven in the signed")
    expect(page.locator("table.history tbody tr")).to_have_count(6)
    shoot(page, "06-history")

    page.get_by_role("link", name="Claims", exact=True).first.click()
    expect(page.locator("table.claims")).to_contain_text("John Kerry personally asked")
    shoot(page, "list", docs=True)
    page.get_by_label("Status").select_option("denied")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.claims tbody tr")).not_to_have_count(0)
    expect(page.locator("table.claims .status")).to_have_text(
        ["denied"] * page.locator("table.claims tbody tr").count())


CONTRAST_JS = """
(selector) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = getComputedStyle(node).backgroundColor;
      if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return parse(c);
    }
    return [255, 255, 255];
  };
  const shown = Array.from(document.querySelectorAll(selector)).filter((el) => el.offsetParent);
  return shown.map((el) => {
    const a = lum(parse(getComputedStyle(el).color)), b = lum(background(el));
    return {text: el.textContent.trim().slice(0, 30),
            ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
  });
}
"""

UNLABELLED_JS = """
() => Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
  .filter((el) => !(el.labels && el.labels.length && el.labels[0].textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 120))
"""


def tab_until(page: Any, target: Any, limit: int = 60) -> int:
    """Press Tab until ``target`` has the focus; how many presses it took."""
    handle = target.element_handle()
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", handle):
            return presses
    raise AssertionError(f"Tab never reached {target} in {limit} presses")


def test_the_desk_is_labelled_keyboard_navigable_and_legible(
    page: Any, desk_server: Server
) -> None:
    page.goto(f"{desk_server.url}/desk/sign-in")
    assert page.evaluate(UNLABELLED_JS) == []
    page.get_by_label("API token").focus()
    page.keyboard.type(desk_server.tokens["editor"])
    tab_until(page, page.get_by_role("button", name="Sign in"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{desk_server.url}/desk/")

    assert page.evaluate(UNLABELLED_JS) == []
    page.get_by_label("Status").focus()
    tab_until(page, page.get_by_role("button", name="Filter"))

    page.locator("table.claims a").first.click()
    expect(page.locator("#timeline svg.timeline")).to_be_visible()
    assert page.evaluate(UNLABELLED_JS) == []
    summary = page.locator("#form-denials summary")
    summary.focus()
    page.keyboard.press("Enter")  # a <details> opens from the keyboard
    expect(page.locator("#form-denials")).to_have_attribute("open", "")
    page.locator("#form-denials").get_by_label("Denied by: name").focus()
    presses = tab_until(page, page.get_by_role("button", name="Record denial"))
    assert presses <= 12
    page.locator("#form-corrections summary").focus()
    page.keyboard.press("Enter")
    page.locator("#form-corrections").get_by_label("Entry").focus()
    tab_until(page, page.get_by_role("button", name="Record correction"))
    marker = page.locator("svg.timeline a.event-link").first
    marker.focus()
    assert page.evaluate("() => document.activeElement.getAttribute('class')") == "event-link"

    for selector in ("body", "a", "button", "label", ".badge", ".hint", "td", ".crumbs"):
        for found in page.evaluate(CONTRAST_JS, selector):
            assert found["ratio"] >= 4.5, f"{selector} {found}"
    shoot(page, "07-keyboard-focus", full_page=False)


def test_readers_see_the_claim_but_no_forms(page: Any, desk_server: Server) -> None:
    sign_in(page, desk_server, "reader")
    page.locator("table.claims a").first.click()
    expect(page.locator("#timeline svg.timeline")).to_be_visible()
    expect(page.locator("details.entry-form")).to_have_count(0)
    expect(page.locator("#forms")).to_contain_text("needs the editor role")
