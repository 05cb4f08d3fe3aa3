"""Hypothesis over ClaimReview: whatever text and URLs a claim holds, its JSON-LD stays
inside the ``<script>`` element a publisher pastes it into, means the same value, links
only http(s) (or its own ``urn:uuid:``), and never takes its ``url`` from a request."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.claimreview import ReviewAuthor, claim_review, review_url, script_json, web_url
from tests.support.casecount import record
from tests.support.long import scaled

FUZZ = settings(
    max_examples=scaled(400, 6_000), deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)
#: pieces that break out of a script element or a JS string when left literal
BREAKERS = ["</script>", "</SCRIPT ", "<!--", "-->", "<script>", "&", "&lt;", "\u2028",
            "\u2029", '"', "\\", "]]>", "<\\/script>", "\x00", "\ud7ff", "\U0001f600"]
#: URLs a claimant's ``same_as`` (any absolute URI) or a base URL might hold
SCHEMES = ["javascript:", "JavaScript:", "data:text/html,", "vbscript:", "file://", "urn:x:",
           "http://", "https://", "HTTPS://", "ftp://", "http:", " http://", "mailto:"]

texts = st.lists(st.one_of(st.sampled_from(BREAKERS), st.text(max_size=12)), max_size=8).map(
    "".join
)
urls = st.builds(lambda scheme, rest: scheme + rest, st.sampled_from(SCHEMES),
                 st.text(max_size=20))


class ScriptBody(HTMLParser):
    """The text of each ``<script>`` element, as a browser's tokenizer cuts it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._inside = tag == "script"
        if self._inside:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data


def state(statement: str, explanation: str, same_as: str, url: str) -> dict[str, Any]:
    appearance = {"outlet": "Outlet " + statement[:10], "url": url,
                  "published_at": "2014-09-15T09:00:00.000000Z", "quote": statement}
    return {
        "statement": statement, "status": "rated", "language": "en",
        "claimant": {"name": explanation or "x", "same_as": same_as},
        "appearances": [appearance], "first_appearance": appearance,
        "created_at": "2014-09-15T09:00:00.000000Z",
        "verdict": {"value": "false", "label": "False", "rating": 1, "best_rating": 5,
                    "worst_rating": 1, "explanation": explanation,
                    "issued_at": "2014-09-15T10:00:00.000000Z"},
    }


def links(node: Any) -> list[str]:
    """Every ``url`` and ``sameAs`` value in a JSON-LD tree."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("url", "sameAs"):
                found.append(value)
            found.extend(links(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(links(item))
    return found


@FUZZ
@given(texts, texts, urls, urls, st.one_of(st.none(), urls))
def test_a_review_stays_in_its_script_element_and_links_only_the_web(
    statement: str, explanation: str, same_as: str, url: str, base: str | None
) -> None:
    record("ClaimReview JSON-LD (hostile text and URLs)")
    claim_id = str(uuid.uuid4())
    review = claim_review(state(statement, explanation, same_as, url),
                          author=ReviewAuthor("Desk", same_as), url=review_url(base, claim_id))
    assert review is not None
    text = script_json(review)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == review  # the escapes keep the value
    page = ScriptBody()
    page.feed(f'<script type="application/ld+json">{text}</script><p>after</p>')
    page.close()
    assert page.scripts == [text]  # the JSON is one script element's whole text
    for link in links(review):
        assert web_url(link) is not None or link == f"urn:uuid:{claim_id}", link
    assert review["url"] == review_url(base, claim_id)
    assert review["url"].startswith(("http://", "https://", "HTTPS://", "urn:uuid:"))
