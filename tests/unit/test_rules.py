"""``ledger.rules.check_correction``: what an EntryCorrected may target and change."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import ValidationFailed
from ledger.events import validate_payload
from ledger.rules import check_correction
from ledger.scales import scales_from_json
from tests.support.builders import ClaimBuilder, claim_id, clarification, correction, recorded, void


def rejected(data: dict[str, Any], history: list[Any], **kw: Any) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as caught:
        check_correction(validate_payload("EntryCorrected", data), history, **kw)
    return caught.value.errors


@pytest.fixture
def claim() -> ClaimBuilder:
    claim = ClaimBuilder()
    claim.record(recorded(statement="Deputy Secretary Sherman asked Araqchi.", language="en"))
    claim.deny("U.S. Department of State")
    claim.rate("mostly-true")
    claim.appear("Washington Free Beacon", published_at="2014-09-15T12:00:00-04:00")
    return claim


# --- targets ------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2, 3])
@pytest.mark.parametrize("kind", ["void", "clarification"])
def test_any_earlier_entry_may_be_voided_or_clarified(
    claim: ClaimBuilder, index: int, kind: str
) -> None:
    target = claim.events[index]
    data = void(target) if kind == "void" else clarification(target)
    assert check_correction(data, claim.events) == data


def test_a_target_outside_the_claim_is_rejected(claim: ClaimBuilder) -> None:
    other = ClaimBuilder(2)
    stranger = other.record()
    errors = rejected(void(stranger), claim.events)
    assert errors == {"data.target_event_id": ["No such event in this claim."]}


def test_a_correction_cannot_target_another_correction(claim: ClaimBuilder) -> None:
    first = claim.clarify(claim.events[1])
    errors = rejected(void(first), claim.events)
    assert list(errors) == ["data.target_event_id"]
    assert "EntryCorrected" in errors["data.target_event_id"][0]


def test_an_entry_already_voided_cannot_be_voided_again(claim: ClaimBuilder) -> None:
    denial = claim.events[1]
    claim.void(denial)
    assert rejected(void(denial), claim.events) == {"data.target_event_id": ["Already voided."]}


@pytest.mark.parametrize("kind", ["correction", "clarification"])
def test_a_voided_entry_can_no_longer_be_corrected_or_clarified(
    claim: ClaimBuilder, kind: str
) -> None:
    denial = claim.events[1]
    claim.void(denial)
    data = correction(denial, {"note": "Late."}) if kind == "correction" else clarification(denial)
    assert rejected(data, claim.events) == {"data.target_event_id": ["Already voided."]}


def test_the_claim_recorded_itself_may_be_voided(claim: ClaimBuilder) -> None:
    data = void(claim.events[0], "Logged on the wrong story.")
    assert check_correction(data, claim.events)["kind"] == "void"


def test_errors_use_the_given_path(claim: ClaimBuilder) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_correction(
            void("00000000-0000-4000-8000-000000000000"), claim.events, path="events[2].data"
        )
    assert list(caught.value.errors) == ["events[2].data.target_event_id"]


# --- changes ------------------------------------------------------------------------


def test_a_correction_may_change_the_targets_payload_fields(claim: ClaimBuilder) -> None:
    data = correction(claim.events[0], {"statement": "Under Secretary Sherman asked Araqchi."})
    assert check_correction(data, claim.events) == data


def test_changes_naming_fields_the_target_does_not_have_are_rejected(claim: ClaimBuilder) -> None:
    errors = rejected(
        correction(claim.events[1], {"statement": "x", "colour": "red"}), claim.events
    )
    assert errors == {
        "data.changes.colour": ["Not a field of ClaimDenied."],
        "data.changes.statement": ["Not a field of ClaimDenied."],
    }


def test_changes_that_break_the_targets_schema_are_rejected(claim: ClaimBuilder) -> None:
    errors = rejected(correction(claim.events[0], {"statement": "x" * 2001}), claim.events)
    assert list(errors) == ["data.changes.statement"]
    errors = rejected(correction(claim.events[0], {"claimant": {"nom": "x"}}), claim.events)
    assert set(errors) == {"data.changes.claimant.name", "data.changes.claimant.nom"}


def test_a_verdict_cannot_be_corrected_off_its_scale(claim: ClaimBuilder) -> None:
    errors = rejected(correction(claim.events[2], {"value": "pants-on-fire"}), claim.events)
    assert list(errors) == ["data.changes.value"]


def test_a_verdict_may_be_corrected_onto_a_configured_scale(claim: ClaimBuilder) -> None:
    scales = scales_from_json(
        {"meter": [{"value": "pants-on-fire", "label": "Pants", "rating": 0}]}
    )
    data = correction(claim.events[2], {"scale": "meter", "value": "pants-on-fire"})
    assert check_correction(data, claim.events, scales=scales)["changes"] == {
        "scale": "meter",
        "value": "pants-on-fire",
    }
    assert list(rejected(data, claim.events)) == ["data.changes.scale"]


def test_changes_come_back_normalised(claim: ClaimBuilder) -> None:
    changes = {
        "appearance": {"outlet": "Fars News Agency", "published_at": "2014-09-15T11:00:00+04:30"}
    }
    checked = check_correction(correction(claim.events[3], changes), claim.events)
    assert checked["changes"] == {
        "appearance": {"outlet": "Fars News Agency", "published_at": "2014-09-15T06:30:00.000000Z"}
    }


def test_changes_are_checked_against_the_target_as_already_corrected(claim: ClaimBuilder) -> None:
    first = claim.events[0]
    claim.correct(first, {"language": "fa"})
    data = correction(first, {"statement": "Under Secretary Sherman asked Araqchi."})
    assert check_correction(data, claim.events)["changes"] == {
        "statement": "Under Secretary Sherman asked Araqchi."
    }


def test_only_the_named_changes_are_returned(claim: ClaimBuilder) -> None:
    checked = check_correction(correction(claim.events[0], {"language": "fa"}), claim.events)
    assert checked["changes"] == {"language": "fa"}


def test_a_redacted_target_cannot_be_corrected_but_can_be_voided(claim: ClaimBuilder) -> None:
    history = list(claim.events)
    history[1] = history[1]._replace(data=None)
    errors = rejected(correction(history[1], {"note": "x"}), history)
    assert errors == {"data.target_event_id": ["Redacted; cannot be corrected."]}
    assert check_correction(void(history[1]), history)["kind"] == "void"


def test_a_links_other_claim_cannot_be_corrected_but_its_kind_and_note_can(
    claim: ClaimBuilder,
) -> None:
    linked = claim.add("ClaimLinked", {"target_claim_id": claim_id(2), "kind": "same-as"})
    errors = rejected(correction(linked, {"target_claim_id": claim_id(3)}), claim.events)
    assert "data.changes.target_claim_id" in errors
    fixed = check_correction(
        validate_payload("EntryCorrected", correction(linked, {"kind": "restates", "note": "x"})),
        claim.events,
    )
    assert fixed["changes"] == {"kind": "restates", "note": "x"}
    assert "data.changes.kind" in rejected(correction(linked, {"kind": "echoes"}), claim.events)
