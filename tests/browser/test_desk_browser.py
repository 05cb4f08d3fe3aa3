"""The desk in a real headless Chromium against a real ``claimledger serve``.

An editor signs in, records a claim from the sample story, adds a denial and a
corroboration and watches the status change (also live, when someone else appends),
voids an entry, replays the claim as of an earlier time and checks the verified
history; screenshots go to test-artifacts/browser. Then basic accessibility checks, the
list's CSV download and a claim's printable record as printed (docs/screenshots/record-print.png),
and two claims linked by searching for the other one's words, shown on both, then voided.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import DOC_SCREENSHOTS, UPDATE_DOCS, api, shoot, sign_in
from tests.support.server import Server
from tests.support.waiting import wait_until

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


def date_of(scope: Any, label: str) -> Any:
    """The date box of a date field (its time of day has a label of its own)."""
    return scope.get_by_label(re.compile("^" + re.escape(label) + r" \((optional|required)"))


def test_an_editor_logs_the_story_and_replays_it(page: Any, desk_server: Server) -> None:
    sign_in(page, desk_server, "editor")
    expect(page.get_by_role("heading", name="Claims")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("(editor)")

    page.get_by_role("link", name="Record a claim").click()
    page.get_by_label("Statement").fill(STATEMENT)
    page.get_by_label("Claimant: name").fill("Ali Khamenei")
    page.get_by_label("Appearance: outlet").fill("Fars News Agency")
    page.get_by_label("Time zone").fill("Asia/Tehran")
    date_of(page, "Appearance: published on").fill("2014-09-15")
    page.get_by_label("Appearance: published on: time of day").fill("13:00")
    page.get_by_label("Appearance: quote").fill(
        "The same U.S. secretary of state had personally demanded Zarif…")
    page.get_by_label("Tags").fill("iran, isil, us-iran-contacts")
    date_of(page, "Occurred on").fill("2014-09-15")
    page.get_by_label("Occurred on: time of day").fill("11:00")
    page.get_by_role("button", name="Record claim").click()
    expect(page.locator("#statement")).to_contain_text("John Kerry personally asked")
    expect(page.locator(".notice")).to_contain_text("15 Sep 2014 11:00 Asia/Tehran")
    expect(status(page)).to_have_text("unverified")
    claim_url = page.url.split("#")[0]
    claim_id = claim_url.rsplit("/", 1)[1]

    denial = open_form(page, "denials")
    expect(denial.get_by_label("Time zone")).to_have_value("Asia/Tehran")  # remembered
    denial.get_by_label("Denied by: name").fill("U.S. Department of State")
    denial.get_by_label("Appearance: URL").fill("freebeacon dot com")
    denial.get_by_label("Appearance: quote").fill("   ")
    denial.get_by_label("Time zone").fill("America/New_York")
    date_of(denial, "Occurred on").fill("2014-09-15")
    denial.get_by_label("Occurred on: time of day").fill("15:00")
    denial.get_by_role("button", name="Record denial").click()
    # refused: the page opens on the form, its summary focused and in view, values kept
    summary = page.locator("#denials-summary")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    form = page.locator("#form-denials")
    expect(form.locator("#denials-appearance-url-error-1")).to_contain_text(
        "Give the web address of the appearance, starting with http:// or https://")
    expect(form.locator("#denials-appearance-outlet-error-1")).to_have_text(
        "Give the outlet where it appeared, e.g. Fars News Agency, or leave every appearance"
        " field empty.")
    expect(form.locator("#denials-appearance-quote-error-1")).to_contain_text("only spaces")
    expect(form.get_by_label("Denied by: name")).to_have_value("U.S. Department of State")
    expect(date_of(form, "Occurred on")).to_have_value("2014-09-15")
    shoot(page, "02-validation-messages", full_page=False)
    shoot(page, "form-errors", full_page=False, docs=True)
    form.get_by_label("Appearance: URL").fill(
        "http://freebeacon.com/national-security/iran-supreme-leader-mocks-obamas-isil-strategy")
    form.get_by_label("Appearance: outlet").fill("Washington Free Beacon")
    form.get_by_label("Appearance: quote").fill("")
    form.get_by_label("Note").fill("Iran is not welcome in the coalition against ISIL.")
    form.get_by_role("button", name="Record denial").click()
    expect(page.locator(".notice")).to_contain_text("Denial recorded as version 2")
    expect(page.locator(".notice")).to_contain_text("15 Sep 2014 15:00 America/New_York")
    expect(status(page)).to_have_text("denied")

    corroboration = open_form(page, "corroborations")
    corroboration.get_by_label("Corroborated by: name").fill("The New York Times")
    corroboration.get_by_label("Corroborated by: identifier URI").fill(
        "https://www.wikidata.org/wiki/Q9684")
    date_of(corroboration, "Occurred on").fill("2014-09-15")
    corroboration.get_by_label("Occurred on: time of day").fill("08:00")
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
    # the entry is shown by what it says, with a pre-filled copy to edit
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "denial by U.S. Department of State")
    expect(page.locator(".entry-card blockquote")).to_contain_text("not welcome in the coalition")
    expect(page.get_by_label("Denied by: name")).to_have_value("U.S. Department of State")
    page.get_by_label("Void it").check()
    page.get_by_label("Reason").fill("The State Department's line was about another claim.")
    shoot(page, "correct-entry", docs=True)
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("Void of v2 recorded as version 6")
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
    assert presses <= 26  # 10 fields, a zone, and a stop per part of each date and time
    page.locator("#form-corrections summary").focus()
    page.keyboard.press("Enter")
    page.locator("#form-corrections").get_by_label("Entry to correct").focus()
    tab_until(page, page.get_by_role("button", name="Open the entry"))
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


def test_dates_alone_and_dates_far_away(page: Any, desk_server: Server) -> None:
    sign_in(page, desk_server, "editor")
    page.locator("table.claims a").first.click()
    claim_url = page.url
    notes = open_form(page, "notes")
    # the story's own days are offered in the date boxes
    expect(page.locator("#story-dates option")).not_to_have_count(0)
    notes.get_by_label("Note").fill("Logged from the print edition.")
    notes.get_by_label("Time zone").fill("Asia/Tehran")
    date_of(notes, "Occurred on").fill("2099-09-16")
    notes.get_by_role("button", name="Add note").click()
    summary = page.locator("#notes-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("is in the future")
    expect(page.locator("#notes-occurred-at-read-as")).to_contain_text(
        "16 Sep 2099 (the start of the day, 00:00 Asia/Tehran)")
    shoot(page, "date-check", full_page=False, docs=True)
    date_of(page.locator("#form-notes"), "Occurred on").fill("2014-09-16")
    page.locator("#form-notes").get_by_role("button", name="Add note").click()
    expect(page.locator(".notice")).to_contain_text(
        "16 Sep 2014 (the start of the day, 00:00 Asia/Tehran)")
    assert page.url.split("#")[0] == claim_url
    # a date years away, confirmed: the axis breaks instead of squashing the story
    notes = open_form(page, "notes")
    notes.get_by_label("Note").fill("Anniversary re-publication.")
    date_of(notes, "Occurred on").fill("2024-09-16")
    notes.get_by_role("button", name="Add note").click()
    expect(page.locator("#notes-summary")).to_contain_text("10 years away from the rest of")
    page.get_by_label("These dates are right").check()
    page.locator("#form-notes").get_by_role("button", name="Add note").click()
    expect(page.locator(".notice")).to_contain_text("Note recorded")
    expect(page.locator("#timeline-scale")).to_contain_text("The time axis is broken")
    expect(page.locator("svg.timeline line.axis")).to_have_count(2)
    page.locator("#timeline").screenshot(path=str(shoot(page, "timeline-broken-axis")))
    if os.environ.get(UPDATE_DOCS) == "1" or not (DOC_SCREENSHOTS / "timeline.png").exists():
        page.locator("#timeline").screenshot(path=str(DOC_SCREENSHOTS / "timeline.png"))
    # as things stood in the world on a day of the story
    page.get_by_label("As things stood in the world at").fill("16 Sep 2014")
    page.get_by_role("button", name="Replay").click()
    expect(page.locator(".replaying")).to_contain_text("as things stood in the world at")
    expect(page.locator("#form-notes")).to_have_count(0)
    shoot(page, "replay-valid-at", full_page=False)


# --- what an editor takes away: the list as CSV, a claim's printable record -----------
def downloaded(page: Any, link: Any, tmp_path: Path) -> list[dict[str, str]]:
    with page.expect_download() as info:
        link.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(str(target))
    assert target.name.startswith("claims-")
    assert target.suffix == ".csv"
    return list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))


def test_the_csv_link_downloads_the_filtered_list(
    page: Any, desk_server: Server, tmp_path: Path
) -> None:
    sign_in(page, desk_server, "reader")
    shown = page.locator("table.claims tbody tr").count()
    everything = downloaded(page, page.get_by_role("link", name="Download all claims as CSV"),
                            tmp_path)
    assert len(everything) == shown
    page.get_by_label("Status").select_option("denied")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=denied**")
    denied = page.locator("table.claims tbody tr").count()
    rows = downloaded(page, page.get_by_role("link", name="Download these claims as CSV"),
                      tmp_path)
    assert len(rows) == denied >= 1
    assert {row["status"] for row in rows} == {"denied"}
    assert all(row["desk_url"].startswith(desk_server.url + "/desk/claims/") for row in rows)


def test_the_printable_record_prints_the_claim_its_hashes_and_its_verification(
    page: Any, desk_server: Server
) -> None:
    sign_in(page, desk_server, "reader")
    page.locator("table.claims tbody tr a", has_text="personally asked").first.click()
    page.get_by_role("link", name="Printable record").click()
    page.wait_for_url("**/record")
    assert page.locator("#verification").get_attribute("class") == "verified ok"
    header = page.locator("header.site")
    assert header.is_visible()
    page.emulate_media(media="print")
    assert not header.is_visible()
    assert not page.locator("p.crumbs").is_visible()
    assert page.locator("#verification").is_visible()
    assert page.get_by_text("inclusion proof").is_visible()
    hashes = page.locator("table.record-history td.hashes code")
    assert hashes.count() >= 3
    assert all(box is not None and box["width"] <= 1280 for box in
               (hashes.nth(i).bounding_box() for i in range(hashes.count())))
    shoot(page, "record-print", docs=True)
    page.emulate_media(media="screen")
    assert header.is_visible()


# --- links between claims, made by searching (docs/screenshots/link-claims.png) -----------
def open_claim(page: Any, words: str) -> str:
    """Open the story's claim whose row holds ``words``; its URL."""
    page.locator("table.claims a", has_text=words).first.click()
    page.wait_for_url(re.compile(r".*/desk/claims/[0-9a-f-]{36}$"))
    return str(page.url)


def test_an_editor_links_two_claims_by_searching_and_both_show_it(
    page: Any, desk_server: Server
) -> None:
    sign_in(page, desk_server, "editor")
    sherman = open_claim(page, "under secretary for political affairs")
    expect(page.locator("#links")).to_contain_text("No links to or from other claims.")
    page.locator("#form-links summary").click()
    page.get_by_label("Find the other claim").fill("kerry zarif")
    page.get_by_role("button", name="Search").click()
    found = page.locator(".link-candidates > li", has_text="Zarif rejected the request").first
    expect(found).to_contain_text("personally asked Iranian Foreign Minister Javad Zarif")
    found.get_by_label("How this claim relates to it").select_option("restates")
    found.get_by_label("Note").fill("The same account, told of Sherman and Araqchi.")
    shoot(page, "link-claims", full_page=False, docs=True)
    found.get_by_role("button", name="Link").click()
    expect(page.locator(".notice")).to_contain_text("Link recorded as version")
    links = page.locator("#links .linked-claims")
    expect(links).to_contain_text("Restates")
    expect(links).to_contain_text("personally asked Iranian Foreign Minister")

    # the other claim's page reads the link from the views, which a worker brings up to
    # the log's head after the append: wait for that (on a loaded machine it takes a while)
    head = desk_server.head()
    with desk_server.client("editor") as client:
        wait_until(lambda: client.get("/v1/claims", params={
            "limit": 1, "min_position": head}).status_code == 200, 60, "the views to hold the link")
    links.get_by_role("link", name=re.compile("personally asked")).click()
    expect(page.locator("#links .linked-claims")).to_contain_text("Restated by")
    expect(page.locator("#links .linked-claims")).to_contain_text("under secretary")

    page.goto(sherman)
    page.locator("#links a.link-entry").click()
    row = page.locator("table.entries tr:target")
    row.get_by_role("link", name=re.compile("Correct or void")).click()
    page.get_by_label(re.compile("Void it")).check()
    page.get_by_label(re.compile("^Reason")).fill("Sherman's is a separate request.")
    page.get_by_role("button", name=re.compile("Record")).click()
    expect(page.locator("#links")).to_contain_text("No links to or from other claims.")
