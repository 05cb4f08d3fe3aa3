"""ClaimReview: every rated claim of the example story, as JSON-LD checked against schema.org.

The vocabulary is an extract of schema.org release 12.0 (``test_claimreview_schemaorg.json``,
with its provenance and licence inside): every property a node uses must be a property of
its type, and every value must be of a type in the property's range.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ledger.claimreview import agent_type
from tests.support.api_harness import VERDICT, ApiHarness, assert_problem

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"
VOCABULARY = json.loads(Path(__file__).with_name("test_claimreview_schemaorg.json").read_text())
TYPES: dict[str, Any] = VOCABULARY["types"]
PROPERTIES: dict[str, Any] = VOCABULARY["properties"]
JSON_LD = "application/ld+json"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@cache
def ancestors(name: str) -> frozenset[str]:
    """A type and all its supertypes."""
    found = {name}
    for parent in TYPES.get(name, {}).get("subTypeOf", []):
        found |= ancestors(parent)
    return frozenset(found)


def literal_fits(value: Any, range_type: str) -> bool:
    """Whether a JSON literal is a value of a schema.org data type."""
    if range_type in ("Text", "URL") and isinstance(value, str):
        if range_type == "URL":
            parts = urlsplit(value)
            return bool(parts.scheme) and bool(parts.netloc or parts.scheme == "urn")
        return True
    if range_type in ("Number", "Integer", "Float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and (range_type != "Integer" or isinstance(value, int))
    if range_type == "Boolean":
        return isinstance(value, bool)
    if range_type == "Date" and isinstance(value, str):
        return _DATE.fullmatch(value) is not None
    if range_type == "DateTime" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            return False
    return False


def check_node(node: Any, allowed_types: list[str], path: str) -> None:
    """A JSON-LD node: a known type fitting the range, with only its own properties."""
    assert isinstance(node, dict), f"{path} is not an object"
    kind = node.get("@type")
    assert kind in TYPES, f"{path}: unknown @type {kind!r}"
    assert not TYPES[kind].get("dataType"), f"{path}: {kind} is a data type, not a node"
    assert any(t in ancestors(kind) for t in allowed_types), (
        f"{path}: a {kind} is not one of {allowed_types}"
    )
    for key, value in node.items():
        if key.startswith("@"):
            continue
        assert key in TYPES[kind]["properties"], f"{path}.{key} is not a property of {kind}"
        ranges = PROPERTIES[key]["rangeIncludes"]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                check_node(item, [r for r in ranges if not TYPES.get(r, {}).get("dataType")],
                           f"{path}.{key}")
            else:
                assert any(literal_fits(item, r) for r in ranges), (
                    f"{path}.{key} = {item!r} is none of {ranges}"
                )


def check_claim_review(review: dict[str, Any]) -> None:
    """A ClaimReview as schema.org defines it, with the properties fact-check readers need."""
    assert review["@context"] == "https://schema.org"
    assert review["@type"] == "ClaimReview"
    check_node(review, ["ClaimReview"], "ClaimReview")
    for name in ("url", "claimReviewed", "datePublished", "author", "reviewRating",
                 "itemReviewed"):
        assert name in review, f"ClaimReview.{name} is required"
    assert review["claimReviewed"].strip()
    rating = review["reviewRating"]
    assert rating["@type"] == "Rating"
    for name in ("ratingValue", "bestRating", "worstRating"):
        assert isinstance(rating[name], int), name
    assert rating["worstRating"] <= rating["ratingValue"] <= rating["bestRating"]
    assert isinstance(rating["alternateName"], str)
    assert rating["alternateName"]
    claim = review["itemReviewed"]
    assert claim["@type"] == "Claim"
    for name in ("author", "datePublished", "appearance", "firstAppearance"):
        assert name in claim, f"Claim.{name} is required"
    assert claim["author"]["@type"] in ("Person", "Organization")
    assert claim["appearance"]
    assert all(a["@type"] == "CreativeWork" for a in claim["appearance"])
    assert claim["firstAppearance"] in claim["appearance"]


@pytest.fixture
def story(tmp_path: Path) -> ApiHarness:
    api = ApiHarness.create(
        tmp_path,
        REVIEW_AUTHOR="Standards Desk, Example News",
        REVIEW_AUTHOR_URL="https://news.example/standards",
        PUBLIC_URL="https://ledger.example",
    )
    response = api.client.post(
        "/v1/imports", data=EXAMPLE.read_bytes(), content_type="application/x-ndjson",
        headers=api.auth("editor"),
    )
    assert response.status_code == 201, response.get_json()
    return api


def claims_of(api: ApiHarness) -> list[dict[str, Any]]:
    events = api.get("/v1/events?limit=1000", "auditor").get_json()["items"]
    ids = list(dict.fromkeys(e["claim_id"] for e in events))
    return [api.get(f"/v1/claims/{i}").get_json() for i in ids]


def test_every_rated_claim_of_the_example_is_a_valid_claim_review(story: ApiHarness) -> None:
    rated = [c for c in claims_of(story) if c["verdict"] is not None]
    assert rated, "the example rates at least one claim"
    for claim in rated:
        response = story.get(f"/v1/claims/{claim['id']}/claimreview", "reader")
        assert response.status_code == 200
        assert response.mimetype == JSON_LD
        review = json.loads(response.get_data())
        check_claim_review(review)
        assert review["claimReviewed"] == claim["statement"]
        assert review["reviewRating"]["alternateName"] == claim["verdict"]["label"]
        assert review["url"] == f"https://ledger.example/desk/claims/{claim['id']}"
        assert review["author"] == {"@type": "Organization", "name": "Standards Desk, Example News",
                                    "url": "https://news.example/standards"}


@pytest.mark.parametrize("value", ["true", "mostly-true", "mixed", "mostly-false", "false"])
def test_every_claim_of_the_story_rated_on_every_value_validates(
    story: ApiHarness, value: str
) -> None:
    for claim in claims_of(story):
        if claim["status"] == "voided":
            continue
        verdict = {**VERDICT, "value": value}
        assert story.post(f"/v1/claims/{claim['id']}/verdicts", verdict).status_code == 201
        review = story.get(f"/v1/claims/{claim['id']}/claimreview", "reader").get_json(force=True)
        check_claim_review(review)
        rating = review["reviewRating"]
        assert (rating["worstRating"], rating["bestRating"]) == (1, 5)
        assert review["datePublished"].endswith("Z")


def test_a_claim_without_a_verdict_has_no_claim_review(story: ApiHarness) -> None:
    unrated = next(c for c in claims_of(story) if c["verdict"] is None)
    response = story.get(f"/v1/claims/{unrated['id']}/claimreview", "reader")
    problem = assert_problem(response, 404)
    assert problem["type"].endswith("/no-verdict")
    missing = story.get("/v1/claims/00000000-0000-4000-8000-000000000000/claimreview", "reader")
    assert_problem(missing, 404)


def test_voiding_the_verdict_withdraws_the_claim_review(story: ApiHarness) -> None:
    claim = next(c for c in claims_of(story) if c["verdict"] is not None)
    path = f"/v1/claims/{claim['id']}"
    before = story.get(path + "/claimreview", "reader")
    assert before.status_code == 200
    tag = before.headers["ETag"]
    assert story.get(path + "/claimreview", "reader", **{"If-None-Match": tag}).status_code == 304
    void = {"target_event_id": claim["verdict"]["event_id"], "kind": "void", "reason": "Premature."}
    assert story.post(path + "/corrections", void).status_code == 201
    assert_problem(story.get(path + "/claimreview", "reader"), 404)


def test_claim_review_needs_a_token_unless_public_read(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path / "private")
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/verdicts", VERDICT)
    assert_problem(api.get(f"/v1/claims/{claim_id}/claimreview", None), 401)
    public = ApiHarness.create(tmp_path / "public", PUBLIC_READ=True)
    claim_id = public.new_claim()
    public.post(f"/v1/claims/{claim_id}/verdicts", VERDICT)
    response = public.get(f"/v1/claims/{claim_id}/claimreview", None)
    assert response.status_code == 200
    check_claim_review(response.get_json(force=True))
    assert response.get_json(force=True)["url"] == f"urn:uuid:{claim_id}"  # no public URL set


HOSTILE = "</script><script>alert(1)</script> & <!-- \u2028\u2029 -->"


def test_the_json_ld_is_safe_inside_a_script_tag_and_links_only_the_web(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path)
    claim_id = api.new_claim(
        statement="Quoted: " + HOSTILE,
        claimant={"name": "A </script> person", "same_as": "javascript:alert(document.cookie)"},
    )
    verdict = {**VERDICT, "explanation": HOSTILE}
    assert api.post(f"/v1/claims/{claim_id}/verdicts", verdict).status_code == 201
    response = api.get(f"/v1/claims/{claim_id}/claimreview", "reader",
                       Host="evil.example", **{"X-Forwarded-Host": "evil.example"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for unsafe in ("<", ">", "&", "\u2028", "\u2029"):
        assert unsafe not in text, repr(unsafe)
    review = json.loads(text)
    assert review["claimReviewed"] == "Quoted: " + HOSTILE  # the same text, escaped
    assert review["reviewBody"] == HOSTILE
    assert "sameAs" not in review["itemReviewed"]["author"]
    assert "javascript" not in text
    assert review["url"] == f"urn:uuid:{claim_id}"  # never the Host header
    assert "evil.example" not in text


def test_the_openapi_document_describes_the_claim_review(story: ApiHarness) -> None:
    spec = story.get("/openapi.json", None).get_json()
    operation = spec["paths"]["/v1/claims/{claim_id}/claimreview"]["get"]
    assert JSON_LD in operation["responses"]["200"]["content"]
    assert "/desk/" not in json.dumps(spec["paths"])


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Ali Khamenei", "Person"),
        ("John Kerry", "Person"),
        ("U.S. Department of State", "Organization"),
        ("The New York Times", "Organization"),
        ("Fars News Agency", "Organization"),
        ("Standards desk", "Organization"),
    ],
)
def test_agents_are_people_or_organisations_by_name(name: str, kind: str) -> None:
    assert agent_type(name) == kind
