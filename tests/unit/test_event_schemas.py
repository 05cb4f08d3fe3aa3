"""The payload schemas of the event types (ledger/events.py and ledger/fields.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import hashing
from ledger.errors import ValidationFailed
from ledger.events import EVENT_TYPES, validate_payload
from ledger.scales import Scale, ScaleValue, scales_from_json
from ledger.timeutil import parse_time

TARGET = "5f0c1a52-3c51-4c4f-9a55-2f3f0e0c8b11"

VALID: dict[str, dict[str, Any]] = {
    "ClaimRecorded": {
        "statement": "Kerry personally asked Zarif to cooperate against ISIL.",
        "claimant": {"name": "Ali Khamenei"},
        "appearance": {
            "outlet": "Fars News Agency",
            "published_at": "2014-09-15T11:00:00+04:30",
            "quote": "Dr. Zarif had rejected his demand",
        },
        "language": "en",
        "tags": ["iran", "isil"],
    },
    "AppearanceAdded": {
        "appearance": {
            "outlet": "Washington Free Beacon",
            "url": "http://freebeacon.com/national-security/iran-supreme-leader-mocks-obamas-isil-strategy",
        }
    },
    "ClaimCorroborated": {
        "by": {"name": "The New York Times", "same_as": "https://www.wikidata.org/wiki/Q9684"},
        "note": "Kerry is still willing to discuss ISIL with Iran.",
        "related_claim_id": TARGET,
    },
    "ClaimDenied": {"by": {"name": "U.S. Department of State"}},
    "ClaimRetracted": {"by": {"name": "Fars News Agency"}, "note": "Withdrawn."},
    "VerdictIssued": {
        "scale": "standard",
        "value": "mixed",
        "explanation": "Openness to talks is documented; the request itself is not.",
        "reviewer": {"name": "Desk"},
    },
    "EntryCorrected": {
        "target_event_id": TARGET,
        "kind": "correction",
        "changes": {"statement": "Corrected."},
        "reason": "Wrong title.",
    },
    "NoteAdded": {"text": "Ask the Tehran bureau.\nThen call State."},
    "ClaimLinked": {"target_claim_id": TARGET, "kind": "restates", "note": "Same claim, new day."},
}


def errors_of(event_type: str, data: Any) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as caught:
        validate_payload(event_type, data)
    return caught.value.errors


def appearance_with(**fields: Any) -> dict[str, Any]:
    return {"appearance": {"outlet": "Fars News Agency", **fields}}


def agent_with(**fields: Any) -> dict[str, Any]:
    return {"by": {"name": "U.S. Department of State", **fields}}


# --- every type ---------------------------------------------------------------------


def test_the_registry_holds_exactly_the_types_of_the_briefs() -> None:
    assert set(EVENT_TYPES) == set(VALID)
    assert all(t.schema_version == 1 for t in EVENT_TYPES.values())


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_a_valid_payload_of_every_type_passes(event_type: str) -> None:
    loaded = validate_payload(event_type, VALID[event_type])
    assert set(loaded) == set(VALID[event_type])


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_an_unknown_top_level_field_is_rejected(event_type: str) -> None:
    errors = errors_of(event_type, {**VALID[event_type], "colour": "red"})
    assert errors == {"data.colour": ["Unknown field."]}


@pytest.mark.parametrize(
    ("event_type", "path"),
    [
        ("ClaimRecorded", "claimant"),
        ("ClaimRecorded", "appearance"),
        ("AppearanceAdded", "appearance"),
        ("ClaimCorroborated", "by"),
        ("VerdictIssued", "reviewer"),
    ],
)
def test_an_unknown_nested_field_is_rejected(event_type: str, path: str) -> None:
    data = {**VALID[event_type], path: {**VALID[event_type][path], "twitter": "@x"}}
    assert errors_of(event_type, data) == {f"data.{path}.twitter": ["Unknown field."]}


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("ClaimRecorded", "statement"),
        ("ClaimRecorded", "claimant"),
        ("ClaimRecorded", "appearance"),
        ("AppearanceAdded", "appearance"),
        ("ClaimCorroborated", "by"),
        ("ClaimDenied", "by"),
        ("ClaimRetracted", "by"),
        ("VerdictIssued", "scale"),
        ("VerdictIssued", "value"),
        ("VerdictIssued", "explanation"),
        ("EntryCorrected", "target_event_id"),
        ("EntryCorrected", "kind"),
        ("EntryCorrected", "reason"),
        ("NoteAdded", "text"),
    ],
)
def test_a_missing_required_field_is_named(event_type: str, field: str) -> None:
    data = {k: v for k, v in VALID[event_type].items() if k != field}
    assert f"data.{field}" in errors_of(event_type, data)


def test_an_unknown_event_type_is_rejected() -> None:
    assert "type" in errors_of("ClaimEdited", {})


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_a_payload_that_is_not_an_object_is_rejected(data: Any) -> None:
    assert errors_of("NoteAdded", data) == {"data": ["Not an object."]}


def test_errors_are_reported_under_the_given_path() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_payload("NoteAdded", {"text": ""}, path="events[3].data")
    assert list(caught.value.errors) == ["events[3].data.text"]


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_a_validated_payload_hashes_canonically(event_type: str) -> None:
    loaded = validate_payload(event_type, VALID[event_type])
    assert len(hashing.payload_sha256(loaded)) == 64


# --- text: length limits and control characters ---------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field", "limit"),
    [
        ("ClaimRecorded", "statement", 2000),
        ("NoteAdded", "text", 10000),
        ("VerdictIssued", "explanation", 10000),
        ("EntryCorrected", "reason", 2000),
        ("ClaimCorroborated", "note", 5000),
    ],
)
def test_text_fields_accept_their_limit_and_refuse_one_more(
    event_type: str, field: str, limit: int
) -> None:
    validate_payload(event_type, {**VALID[event_type], field: "x" * limit})
    assert f"data.{field}" in errors_of(event_type, {**VALID[event_type], field: "x" * (limit + 1)})


def test_names_and_outlets_are_limited_to_200_characters() -> None:
    validate_payload("ClaimDenied", {"by": {"name": "n" * 200}})
    assert "data.by.name" in errors_of("ClaimDenied", {"by": {"name": "n" * 201}})
    assert "data.appearance.outlet" in errors_of(
        "AppearanceAdded", {"appearance": {"outlet": "o" * 201}}
    )


def test_quotes_are_limited_to_5000_characters() -> None:
    validate_payload("AppearanceAdded", appearance_with(quote="q" * 5000))
    assert "data.appearance.quote" in errors_of(
        "AppearanceAdded", appearance_with(quote="q" * 5001)
    )


def test_the_limit_counts_characters_not_bytes() -> None:
    validate_payload("ClaimDenied", {"by": {"name": "ع" * 200}})


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_or_blank_text_is_rejected(text: str) -> None:
    assert "data.text" in errors_of("NoteAdded", {"text": text})


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\x0b", "\x0c"])
def test_control_characters_are_rejected_in_multiline_text(char: str) -> None:
    assert errors_of("NoteAdded", {"text": f"a{char}b"}) == {
        "data.text": ["Control characters are not allowed."]
    }


def test_multiline_text_keeps_tabs_and_newlines() -> None:
    text = "Line one,\ttabbed.\r\nLine two."
    assert validate_payload("NoteAdded", {"text": text}) == {"text": text}


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x85"])
def test_single_line_text_refuses_every_control_character(char: str) -> None:
    assert "data.by.name" in errors_of("ClaimDenied", {"by": {"name": f"U.S.{char}State"}})


def test_a_lone_surrogate_is_rejected_in_text() -> None:
    assert "data.text" in errors_of("NoteAdded", {"text": "a\ud800b"})


def test_non_ascii_text_is_kept_as_is() -> None:
    quote = "«Dr. Zarif had rejected his demand» — آیت‌الله خامنه‌ای"
    loaded = validate_payload("AppearanceAdded", appearance_with(quote=quote))
    assert loaded["appearance"]["quote"] == quote


@pytest.mark.parametrize("value", [5, True, ["a"], {"a": 1}])
def test_text_must_be_a_string(value: Any) -> None:
    assert "data.text" in errors_of("NoteAdded", {"text": value})


# --- times -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_time", "stored"),
    [
        ("2014-09-15T11:00:00+04:30", "2014-09-15T06:30:00.000000Z"),
        ("2014-09-15T06:30:00Z", "2014-09-15T06:30:00.000000Z"),
        ("2014-09-15t06:30:00z", "2014-09-15T06:30:00.000000Z"),
        ("2014-09-15 06:30:00Z", "2014-09-15T06:30:00.000000Z"),
        ("2014-09-15T02:30:00.5-04:00", "2014-09-15T06:30:00.500000Z"),
        ("2014-09-15T06:30:00.123456789Z", "2014-09-15T06:30:00.123456Z"),
        ("2014-09-15T00:30:00-06:00", "2014-09-15T06:30:00.000000Z"),
        ("2014-09-14T23:00:00-08:00", "2014-09-15T07:00:00.000000Z"),
        ("2014-09-15T06:30:00+00:00", "2014-09-15T06:30:00.000000Z"),
    ],
)
def test_times_are_rfc_3339_normalised_to_utc_with_six_fractional_digits(
    given_time: str, stored: str
) -> None:
    loaded = validate_payload("AppearanceAdded", appearance_with(published_at=given_time))
    assert loaded["appearance"]["published_at"] == stored


@pytest.mark.parametrize(
    "bad",
    [
        "2014-09-15T06:30:00",  # no zone
        "2014-09-15",  # no time
        "2014-09-15T06:30Z",  # no seconds
        "15/09/2014 06:30:00Z",
        "2014-09-15T06:30:00+0430",  # offset without colon
        "2014-09-15T06:30:00 UTC",
        "2014-02-30T06:30:00Z",  # no such day
        "2014-09-15T24:00:00Z",
        "2014-09-15T06:30:00+25:00",
        "1410762600",
        "x" * 41,
        "0001-01-01T00:00:00+01:00",  # out of range once in UTC
        "9999-12-31T23:30:00-01:00",
    ],
)
def test_times_without_a_zone_or_out_of_range_are_rejected(bad: str) -> None:
    assert "data.appearance.published_at" in errors_of(
        "AppearanceAdded", appearance_with(published_at=bad)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_any_zoned_time_is_stored_as_the_same_instant_in_canonical_utc(
    local: datetime, offset_minutes: int
) -> None:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = f"{local:%Y-%m-%dT%H:%M:%S.%f}{sign}{hours:02d}:{minutes:02d}"
    loaded = validate_payload("AppearanceAdded", appearance_with(published_at=text))
    stored = loaded["appearance"]["published_at"]
    assert len(stored) == 27
    assert stored.endswith("Z")
    moment = local.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_time(stored) == moment


# --- URLs and URIs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://freebeacon.com/national-security/iran-supreme-leader-mocks-obamas-isil-strategy",
        "https://www.nytimes.com/2014/09/15/world/middleeast/paris.html?ref=world#x",
        "http://localhost:8080/a",
    ],
)
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert validate_payload("AppearanceAdded", appearance_with(url=url))["appearance"]["url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/file",
        "javascript:alert(1)",
        "mailto:desk@example.org",
        "file:///etc/passwd",
        "//example.org/a",
        "/relative/path",
        "example.org",
        "http://",
        "http://exa mple.org/",
        "http://example.org/a\n",
        "http://example.org/a\x00",
        "http://example.org/\ud800",
        "https://example.org/" + "a" * 2040,
    ],
)
def test_urls_must_be_absolute_http_or_https(url: str) -> None:
    assert "data.appearance.url" in errors_of("AppearanceAdded", appearance_with(url=url))


@pytest.mark.parametrize(
    "uri",
    [
        "https://www.wikidata.org/wiki/Q9684",
        "http://www.wikidata.org/entity/Q789915",
        "urn:isni:0000000121032683",
        "https://orcid.org/0000-0002-1825-0097",
    ],
)
def test_same_as_accepts_absolute_uris(uri: str) -> None:
    assert validate_payload("ClaimDenied", agent_with(same_as=uri))["by"]["same_as"] == uri


@pytest.mark.parametrize(
    "uri",
    [
        "Q9684",
        "wikidata Q9684",
        "www.wikidata.org/wiki/Q9684",
        "https://www.wikidata.org/wiki/Q 9684",
        "https://www.wikidata.org/wiki/<Q9684>",
        "1http://example.org",
        "urn:x\n",
        "urn:a\x00b",
        "urn:a\ud800b",
        "",
    ],
)
def test_same_as_refuses_what_is_not_an_absolute_uri(uri: str) -> None:
    assert "data.by.same_as" in errors_of("ClaimDenied", agent_with(same_as=uri))


# --- tags, language, ids ---------------------------------------------------------------


def test_tags_are_unique_lowercase_slugs_and_at_most_twenty() -> None:
    base = VALID["ClaimRecorded"]
    validate_payload("ClaimRecorded", {**base, "tags": [f"t{i}" for i in range(20)]})
    assert "data.tags" in errors_of("ClaimRecorded", {**base, "tags": [f"t{i}" for i in range(21)]})
    assert errors_of("ClaimRecorded", {**base, "tags": ["iran", "iran"]}) == {
        "data.tags": ["Tags must be unique."]
    }
    for bad in ("Iran", "nuclear power", "-iran", "iran\n", "", "x" * 51):
        assert "data.tags.0" in errors_of("ClaimRecorded", {**base, "tags": [bad]}), bad


@pytest.mark.parametrize("tag", ["us-iran", "isil", "2014.09", "bushehr_npp"])
def test_a_slug_tag_is_accepted(tag: str) -> None:
    validate_payload("ClaimRecorded", {**VALID["ClaimRecorded"], "tags": [tag]})


@pytest.mark.parametrize(
    ("language", "ok"),
    [("en", True), ("fa-IR", True), ("e", False), ("en\n", False), ("english language", False)],
)
def test_the_language_is_a_bcp_47_tag(language: str, ok: bool) -> None:
    data = {**VALID["ClaimRecorded"], "language": language}
    if ok:
        assert validate_payload("ClaimRecorded", data)["language"] == language
    else:
        assert "data.language" in errors_of("ClaimRecorded", data)


def test_ids_are_normalised_to_lowercase_hyphenated_uuids() -> None:
    loaded = validate_payload(
        "ClaimDenied", {**agent_with(), "related_claim_id": "5F0C1A523C514C4F9A552F3F0E0C8B11"}
    )
    assert loaded["related_claim_id"] == TARGET


@pytest.mark.parametrize("bad", ["not-a-uuid", "5f0c1a52", "", None, 42])
def test_a_malformed_id_is_rejected(bad: Any) -> None:
    data = {**agent_with(), "related_claim_id": bad}
    assert "data.related_claim_id" in errors_of("ClaimDenied", data)


# --- verdicts -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "mostly-true", "mixed", "mostly-false", "false"])
def test_every_value_of_the_standard_scale_is_accepted(value: str) -> None:
    data = {**VALID["VerdictIssued"], "value": value}
    assert validate_payload("VerdictIssued", data)["value"] == value


@pytest.mark.parametrize("value", ["pants-on-fire", "True", "half-true", "5"])
def test_a_verdict_value_off_its_scale_is_rejected(value: str) -> None:
    errors = errors_of("VerdictIssued", {**VALID["VerdictIssued"], "value": value})
    assert list(errors) == ["data.value"]


def test_an_unknown_scale_is_rejected() -> None:
    errors = errors_of("VerdictIssued", {**VALID["VerdictIssued"], "scale": "meter"})
    assert list(errors) == ["data.scale"]


def test_a_configured_scale_is_accepted_with_its_own_values() -> None:
    scales = scales_from_json(
        {"meter": [{"value": "pants-on-fire", "label": "Pants", "rating": 0}]}
    )
    data = {"scale": "meter", "value": "pants-on-fire", "explanation": "No."}
    assert validate_payload("VerdictIssued", data, scales)["value"] == "pants-on-fire"
    with pytest.raises(ValidationFailed):
        validate_payload("VerdictIssued", {**data, "value": "true"}, scales)
    assert validate_payload("VerdictIssued", VALID["VerdictIssued"], scales)["value"] == "mixed"


def test_a_value_of_another_scale_is_not_on_this_one() -> None:
    scales = {
        "standard": Scale("standard", (ScaleValue("true", "True", 5),)),
        "meter": Scale("meter", (ScaleValue("pants-on-fire", "Pants", 0),)),
    }
    data = {"scale": "standard", "value": "pants-on-fire", "explanation": "x"}
    with pytest.raises(ValidationFailed) as caught:
        validate_payload("VerdictIssued", data, scales)
    assert list(caught.value.errors) == ["data.value"]


# --- corrections ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["void", "clarification"])
def test_only_a_correction_carries_changes(kind: str) -> None:
    base = {"target_event_id": TARGET, "kind": kind, "reason": "Why."}
    assert validate_payload("EntryCorrected", base)["kind"] == kind
    assert errors_of("EntryCorrected", {**base, "changes": {"statement": "x"}}) == {
        "data.changes": ["Only a correction carries changes."]
    }
    assert "data.changes" in errors_of("EntryCorrected", {**base, "changes": {}})


@pytest.mark.parametrize("changes", [None, {}])
def test_a_correction_must_name_its_changes(changes: Any) -> None:
    data: dict[str, Any] = {"target_event_id": TARGET, "kind": "correction", "reason": "Why."}
    if changes is not None:
        data["changes"] = changes
    assert errors_of("EntryCorrected", data) == {
        "data.changes": ["A correction must name the changes it makes."]
    }


@pytest.mark.parametrize("kind", ["delete", "edit", "Void", ""])
def test_an_unknown_correction_kind_is_rejected(kind: str) -> None:
    data = {"target_event_id": TARGET, "kind": kind, "reason": "Why."}
    assert "data.kind" in errors_of("EntryCorrected", data)


def test_a_correction_needs_a_reason() -> None:
    data = {"target_event_id": TARGET, "kind": "void", "reason": " "}
    assert "data.reason" in errors_of("EntryCorrected", data)


def test_changes_must_be_an_object_with_short_keys() -> None:
    base = {"target_event_id": TARGET, "kind": "correction", "reason": "Why."}
    assert "data.changes" in errors_of("EntryCorrected", {**base, "changes": ["statement"]})
    errors = errors_of("EntryCorrected", {**base, "changes": {"k" * 101: 1}})
    assert all(path.startswith("data.changes.") for path in errors)


def test_a_year_before_1000_is_kept_with_four_digits() -> None:
    appearance = {"outlet": "Annals", "published_at": "0999-01-01T00:00:00Z"}
    loaded = validate_payload("AppearanceAdded", {"appearance": appearance})
    assert loaded["appearance"]["published_at"] == "0999-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("kind", ["same-as", "restates", "responds-to", "contradicts"])
def test_a_claim_linked_takes_the_four_kinds(kind: str) -> None:
    loaded = validate_payload("ClaimLinked", {"target_claim_id": TARGET, "kind": kind})
    assert loaded["kind"] == kind


def test_a_claim_linked_needs_a_known_kind_and_a_claim_id() -> None:
    errors = errors_of("ClaimLinked", {"target_claim_id": "42", "kind": "echoes"})
    assert {"data.target_claim_id", "data.kind"} <= set(errors)
    assert "data.target_claim_id" in errors_of("ClaimLinked", {"kind": "same-as"})
