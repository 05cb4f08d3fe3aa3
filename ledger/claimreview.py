"""schema.org ClaimReview (JSON-LD) from a claim's folded state; pure, no I/O.

A claim with an active verdict maps to one ``ClaimReview``: ``claimReviewed`` is the
statement, ``reviewRating`` places the verdict on its scale (``ratingValue``,
``bestRating``, ``worstRating``, ``alternateName``), ``itemReviewed`` is the ``Claim``
with its ``author`` (the claimant), ``datePublished``, ``appearance``,
``firstAppearance`` and ``sameAs`` (the review URLs of the claims it has a ``same-as``
link to); the review's ``author`` is the publishing desk (configuration).

Publishers paste the JSON-LD into a ``<script type="application/ld+json">`` tag, so the
text is safe there: ``<``, ``>``, ``&`` and U+2028/U+2029 are written as ``\\uXXXX``
escapes (``script_json``), and every URL it links (``url``, ``sameAs``) is http(s) or
the review's own ``urn:uuid:`` (a ``javascript:`` identifier is left out).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from .fold import FoldableEvent, fold
from .scales import DEFAULT_SCALES, Scales

CONTEXT = "https://schema.org"
#: characters a JSON text inside an HTML ``<script>`` element must not hold literally
_SCRIPT_UNSAFE = str.maketrans({
    "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
})
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

#: words that mark an agent's name as an organisation's (the ledger stores no agent kind)
_ORGANISATION_WORDS = re.compile(
    r"\b(department|ministry|agency|office|government|council|committee|commission|"
    r"news|times|press|journal|herald|tribune|television|tv|radio|broadcasting|"
    r"network|media|desk|party|union|university|institute|foundation|association|"
    r"organi[sz]ation|corporation|company|inc|ltd|llc|bureau|service|embassy|"
    r"army|forces|police|court|parliament|congress|senate|white house|"
    r"united states|nations|republic|kingdom|coalition)\b|^the\s",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ReviewAuthor:
    """Who publishes the reviews: a name and optionally its home page."""

    name: str
    url: str | None = None


def script_json(value: Any) -> str:
    """Compact JSON that is also safe inside an HTML ``<script>`` element (same value)."""
    return _ENCODE(value).translate(_SCRIPT_UNSAFE)


def web_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None."""
    if not isinstance(value, str):
        return None
    scheme, sep, rest = value.partition(":")
    if sep and scheme.lower() in ("http", "https") and rest.startswith("//") and len(rest) > 2:
        return value
    return None


def agent_type(name: str) -> str:
    """``Organization`` when the name reads like one, else ``Person``."""
    return "Organization" if _ORGANISATION_WORDS.search(name) else "Person"


def schema_time(value: str | None) -> str | None:
    """A canonical ledger time as ISO 8601, without a zero fraction of a second."""
    if not value:
        return None
    return value.replace(".000000Z", "Z")


def _node(kind: str, **members: Any) -> dict[str, Any]:
    """A schema.org node of type ``kind`` with those of ``members`` that have a value."""
    return {"@type": kind, **{name: value for name, value in members.items() if value}}


def _agent(agent: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not agent or not agent.get("name"):
        return None
    name = agent["name"]
    return _node(agent_type(str(name)), name=name, sameAs=web_url(agent.get("same_as")))


def _creative_work(appearance: Mapping[str, Any]) -> dict[str, Any]:
    outlet = appearance.get("outlet")
    return _node(
        "CreativeWork",
        url=web_url(appearance.get("url")),
        publisher=_node("Organization", name=outlet) if outlet else None,
        datePublished=schema_time(appearance.get("published_at")),
        text=appearance.get("quote"),
    )


def _claim(state: Mapping[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"@type": "Claim"}
    author = _agent(state.get("claimant"))
    if author:
        node["author"] = author
    first = state.get("first_appearance")
    published = None
    if first:
        published = first.get("published_at") or first.get("occurred_at")
    node["datePublished"] = schema_time(published or state.get("created_at"))
    appearances = state.get("appearances") or []
    if appearances:
        node["appearance"] = [_creative_work(a) for a in appearances]
    if first:
        node["firstAppearance"] = _creative_work(first)
    return node


def _rating(verdict: Mapping[str, Any]) -> dict[str, Any]:
    rating: dict[str, Any] = {"@type": "Rating"}
    for key, name in (
        ("rating", "ratingValue"),
        ("best_rating", "bestRating"),
        ("worst_rating", "worstRating"),
    ):
        if verdict.get(key) is not None:
            rating[name] = verdict[key]
    rating["alternateName"] = verdict.get("label") or verdict.get("value")
    return rating


def claim_review(
    state: Mapping[str, Any], *, author: ReviewAuthor, url: str
) -> dict[str, Any] | None:
    """The ClaimReview of a claim's state, or None when it has no verdict (or is voided).

    A redacted verdict is no verdict, and a claim whose statement was redacted has no
    ``claimReviewed`` to publish: neither has a review.
    """
    verdict = state.get("verdict")
    if not verdict or state.get("status") == "voided" or state.get("statement") is None:
        return None
    publisher: dict[str, Any] = {"@type": "Organization", "name": author.name}
    if web_url(author.url):
        publisher["url"] = author.url
    review: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "ClaimReview",
        "url": url,
        "claimReviewed": state.get("statement") or "",
        "datePublished": schema_time(verdict.get("issued_at")),
        "author": publisher,
        "reviewRating": _rating(verdict),
        "itemReviewed": _claim(state),
    }
    same = _same_as(state, url)
    if same:
        review["itemReviewed"]["sameAs"] = same
    if verdict.get("explanation"):
        review["reviewBody"] = verdict["explanation"]
    if state.get("language"):
        review["inLanguage"] = state["language"]
    return review


def _same_as(state: Mapping[str, Any], url: str) -> list[str]:
    """The review URLs of the claims this one has a ``same-as`` link to (the same claim,
    recorded twice): ``url`` with the other claim's id in place of this one's."""
    claim_id = str(state.get("id") or "")
    if not claim_id or not url.endswith(claim_id):
        return []
    base = url[: -len(claim_id)]
    same = (base + str(link["target_claim_id"]) for link in state.get("links") or ()
            if link.get("kind") == "same-as")
    return list(dict.fromkeys(same))  # once each, though an older log may repeat a link


def review_url(base_url: str | None, claim_id: str) -> str:
    """The review's ``url``: the claim's desk page under an http(s) ``base_url`` (the
    configured public URL, never a request's Host header), else ``urn:uuid:{claim_id}``."""
    if base_url and web_url(base_url):
        return f"{base_url.rstrip('/')}/desk/claims/{claim_id}"
    return f"urn:uuid:{claim_id}"


def reviews_from_log(
    events: Iterable[FoldableEvent],
    *,
    author: ReviewAuthor,
    base_url: str | None,
    scales: Scales = DEFAULT_SCALES,
) -> Iterator[dict[str, Any]]:
    """The ClaimReview of every rated claim in a log, in order of first appearance in it."""
    streams: dict[str, list[FoldableEvent]] = {}
    for event in events:
        streams.setdefault(event.claim_id, []).append(event)
    for claim_id, stream in streams.items():
        state = fold(stream, scales)
        if state is None:
            continue
        review = claim_review(state, author=author, url=review_url(base_url, claim_id))
        if review is not None:
            yield review


def write_reviews(reviews: Iterable[Mapping[str, Any]], target: IO[bytes], *, ndjson: bool) -> int:
    """Write reviews as one JSON array, or as NDJSON; returns how many were written."""
    count = 0
    if ndjson:
        for review in reviews:
            target.write(script_json(review).encode("utf-8") + b"\n")
            count += 1
        return count
    target.write(b"[")
    for review in reviews:
        target.write(b",\n" if count else b"\n")
        target.write(script_json(review).encode("utf-8"))
        count += 1
    target.write(b"\n]\n" if count else b"]\n")
    return count
