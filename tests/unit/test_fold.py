"""Example tests of the fold and the bitemporal replay, rule by rule as the brief states them."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.fold import (
    HISTOGRAM_BUCKETS,
    SUMMARY_KEYS,
    corrections,
    fold,
    histogram,
    recent,
    replay,
    summarize,
)
from ledger.scales import Scale, ScaleValue
from tests.support.builders import (
    MONDAY,
    TUESDAY,
    WEDNESDAY,
    ClaimBuilder,
    appearance,
    by,
    claim_id,
    correction,
    link,
    recorded,
    shift,
)


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["event_id"] for entry in entries]


def state(claim: ClaimBuilder, **kw: Any) -> dict[str, Any]:
    result = fold(claim.events, **kw)
    assert result is not None
    return result


# --- recording ------------------------------------------------------------------


def test_no_events_fold_to_nothing() -> None:
    assert fold([]) is None


def test_a_stream_without_its_claim_recorded_folds_to_nothing() -> None:
    claim = ClaimBuilder()
    claim.record()
    assert fold(claim.events[1:]) is None


def test_a_recorded_claim_is_unverified_and_carries_its_statement_and_first_appearance() -> None:
    claim = ClaimBuilder()
    first = claim.record(
        recorded(
            statement="Kerry asked Zarif to cooperate against ISIL.",
            outlet="Fars News Agency",
            language="en",
            tags=["iran", "isil"],
        ),
        occurred_at="2014-09-15T06:00:00.000000Z",
    )
    result = state(claim)
    assert result["id"] == claim.claim_id
    assert result["statement"] == "Kerry asked Zarif to cooperate against ISIL."
    assert result["claimant"] == {"name": "Ali Khamenei"}
    assert result["language"] == "en"
    assert result["tags"] == ["iran", "isil"]
    assert result["status"] == "unverified"
    assert result["verdict"] is None
    assert result["counts"] == {"corroborations": 0, "denials": 0, "appearances": 1}
    assert result["appearances"] == [
        {"event_id": first.id, "outlet": "Fars News Agency", "occurred_at": first.occurred_at}
    ]
    assert result["first_appearance"] == result["appearances"][0]
    assert result["version"] == 1
    assert result["created_at"] == first.recorded_at
    assert result["updated_at"] == first.recorded_at


def test_version_and_updated_at_follow_the_last_event() -> None:
    claim = ClaimBuilder()
    first = claim.record()
    claim.note()
    last = claim.appear()
    result = state(claim)
    assert result["version"] == 3
    assert result["created_at"] == first.recorded_at
    assert result["updated_at"] == last.recorded_at


def test_the_first_appearance_is_the_earliest_published_not_the_first_logged() -> None:
    claim = ClaimBuilder()
    claim.record(
        recorded(outlet="Washington Free Beacon"),
        occurred_at="2014-09-15T16:00:00.000000Z",
    )
    claim.appear("Fars News Agency", published_at="2014-09-15T07:30:00+04:30")
    result = state(claim)
    assert result["counts"]["appearances"] == 2
    assert result["first_appearance"]["outlet"] == "Fars News Agency"


# --- status -------------------------------------------------------------------------


def test_a_corroboration_makes_the_claim_corroborated() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.corroborate("The New York Times")
    assert state(claim)["status"] == "corroborated"


def test_a_denial_makes_the_claim_denied() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.deny("U.S. Department of State")
    assert state(claim)["status"] == "denied"


def test_a_corroboration_and_a_denial_make_the_claim_disputed() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.deny("U.S. Department of State")
    claim.corroborate("The New York Times")
    result = state(claim)
    assert result["status"] == "disputed"
    assert result["counts"] == {"corroborations": 1, "denials": 1, "appearances": 1}


def test_corroborations_and_denials_say_who_and_where() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.add(
        "ClaimDenied",
        by(
            "U.S. Department of State",
            appearance=appearance("Washington Free Beacon"),
            note="Iran is not welcome in the coalition.",
        ),
        occurred_at="2014-09-15T16:00:00Z",
    )
    result = state(claim)
    assert result["denials"] == [
        {
            "event_id": denial.id,
            "by": {"name": "U.S. Department of State"},
            "appearance": {"outlet": "Washington Free Beacon"},
            "note": "Iran is not welcome in the coalition.",
            "occurred_at": "2014-09-15T16:00:00.000000Z",
        }
    ]


def test_a_retraction_makes_the_claim_retracted_whatever_the_corroborations() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.corroborate()
    claim.deny()
    retraction = claim.retract("Fars News Agency")
    result = state(claim)
    assert result["status"] == "retracted"
    assert result["retraction"]["event_id"] == retraction.id
    assert result["counts"]["corroborations"] == 1


def test_a_voided_retraction_no_longer_retracts_the_claim() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.deny()
    retraction = claim.retract()
    claim.void(retraction)
    result = state(claim)
    assert result["status"] == "denied"
    assert result["retraction"] is None


def test_a_voided_claim_recorded_makes_the_status_voided_even_when_retracted() -> None:
    claim = ClaimBuilder()
    first = claim.record()
    claim.corroborate()
    claim.retract()
    claim.void(first)
    result = state(claim)
    assert result["status"] == "voided"
    assert first.id in result["voided_event_ids"]
    assert result["appearances"] == []
    assert result["first_appearance"] is None


def test_a_voided_claim_keeps_its_statement_for_the_record() -> None:
    claim = ClaimBuilder()
    first = claim.record(recorded(statement="Logged on the wrong story."))
    claim.void(first)
    result = state(claim)
    assert result["status"] == "voided"
    assert result["statement"] == "Logged on the wrong story."


# --- verdict ------------------------------------------------------------------------


def test_the_verdict_is_the_latest_verdict_issued_with_its_label_and_position() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.rate("mostly-false")
    latest = claim.rate("mixed", occurred_at="2014-09-16T14:00:00-04:00")
    result = state(claim)
    assert result["verdict"] == {
        "event_id": latest.id,
        "scale": "standard",
        "value": "mixed",
        "label": "Mixed",
        "rating": 3,
        "best_rating": 5,
        "worst_rating": 1,
        "explanation": "Rated by the desk.",
        "reviewer": None,
        "issued_at": "2014-09-16T18:00:00.000000Z",
    }


def test_a_voided_latest_verdict_falls_back_to_the_previous_one() -> None:
    claim = ClaimBuilder()
    claim.record()
    earlier = claim.rate("mostly-true")
    later = claim.rate("false")
    claim.void(later)
    assert state(claim)["verdict"]["event_id"] == earlier.id


def test_voiding_the_only_verdict_leaves_none() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.void(claim.rate("true"))
    assert state(claim)["verdict"] is None


def test_status_and_verdict_are_separate() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.corroborate()
    claim.rate("false")
    result = state(claim)
    assert result["status"] == "corroborated"
    assert result["verdict"]["value"] == "false"


def test_a_verdict_is_labelled_from_a_custom_scale() -> None:
    pants = Scale(
        "meter", (ScaleValue("pants-on-fire", "Pants on fire", 0), ScaleValue("ok", "OK", 9))
    )
    claim = ClaimBuilder(validate=False)
    claim.record()
    claim.add("VerdictIssued", {"scale": "meter", "value": "pants-on-fire", "explanation": "No."})
    result = state(claim, scales={"meter": pants})
    assert result["verdict"]["label"] == "Pants on fire"
    assert (result["verdict"]["rating"], result["verdict"]["worst_rating"]) == (0, 0)
    assert result["verdict"]["best_rating"] == 9


# --- voids --------------------------------------------------------------------------


def test_a_void_makes_the_target_count_as_never_appended() -> None:
    voided = ClaimBuilder()
    voided.record()
    voided.corroborate("The New York Times")
    mistaken = voided.deny("U.S. Department of State")
    voided.appear("Fars News Agency")
    duplicate = voided.appear("Fars News Agency")
    voided.void(mistaken)
    voided.void(duplicate)

    never = ClaimBuilder()
    never.record()
    never.corroborate("The New York Times")
    never.appear("Fars News Agency")

    with_voids, without = state(voided), state(never)
    for key in ("status", "verdict", "counts", "statement", "retraction"):
        assert with_voids[key] == without[key], key
    assert with_voids["status"] == "corroborated"
    assert with_voids["counts"] == {"corroborations": 1, "denials": 0, "appearances": 2}
    assert mistaken.id not in ids(with_voids["denials"])
    assert duplicate.id not in ids(with_voids["appearances"])


def test_a_voided_entry_stays_in_history_marked_voided() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny()
    claim.void(denial)
    result = state(claim)
    assert result["voided_event_ids"] == [denial.id]
    assert [e.id for e in claim.events][1] == denial.id
    assert result["version"] == 3


def test_a_second_void_of_the_same_entry_is_ignored() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny()
    claim.void(denial)
    before = state(claim)
    claim.void(denial)
    after = state(claim)
    assert after["voided_event_ids"] == before["voided_event_ids"]
    assert after["counts"] == before["counts"]
    assert len(corrections(claim.events).notes[denial.id]) == 1


def test_a_void_that_targets_another_correction_is_ignored() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny()
    void = claim.void(denial)
    claim.void(void)
    result = state(claim)
    assert result["voided_event_ids"] == [denial.id]
    assert result["status"] == "unverified"


def test_a_void_of_an_event_outside_the_folded_events_is_ignored() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.void("00000000-0000-4000-8000-000000000000")
    result = state(claim)
    assert result["voided_event_ids"] == []
    assert result["status"] == "unverified"


def test_a_voided_note_disappears_from_the_notes() -> None:
    claim = ClaimBuilder()
    claim.record()
    kept = claim.note("Ask Tehran bureau.")
    dropped = claim.note("Wrong claim.")
    claim.void(dropped)
    assert ids(state(claim)["notes"]) == [kept.id]


# --- corrections and clarifications --------------------------------------------------


def test_a_correction_applies_its_changes_to_the_target() -> None:
    claim = ClaimBuilder()
    first = claim.record(recorded(statement="Deputy Secretary Wendy Sherman asked Araqchi."))
    claim.correct(first, {"statement": "Under Secretary Wendy Sherman asked Araqchi."})
    result = state(claim)
    assert result["statement"] == "Under Secretary Wendy Sherman asked Araqchi."
    assert result["claimant"] == {"name": "Ali Khamenei"}


def test_a_correction_of_an_appearance_changes_the_listed_appearance() -> None:
    claim = ClaimBuilder()
    claim.record()
    added = claim.appear("New York Times")
    claim.correct(added, {"appearance": {"outlet": "The New York Times"}})
    (entry,) = [a for a in state(claim)["appearances"] if a["event_id"] == added.id]
    assert entry["outlet"] == "The New York Times"
    assert entry["corrections"][0]["kind"] == "correction"


def test_successive_corrections_accumulate() -> None:
    claim = ClaimBuilder()
    first = claim.record(recorded(language="fa"))
    claim.correct(first, {"statement": "Second wording."})
    claim.correct(first, {"language": "en"})
    result = state(claim)
    assert (result["statement"], result["language"]) == ("Second wording.", "en")


def test_a_correction_of_a_verdict_changes_the_verdict() -> None:
    claim = ClaimBuilder()
    claim.record()
    rated = claim.rate("mostly-true")
    claim.correct(rated, {"value": "mixed"})
    assert state(claim)["verdict"]["value"] == "mixed"
    assert state(claim)["verdict"]["label"] == "Mixed"


def test_a_corrected_denial_that_changes_the_agent_keeps_the_count() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny("State Dept")
    claim.correct(denial, {"by": {"name": "U.S. Department of State"}})
    result = state(claim)
    assert result["counts"]["denials"] == 1
    assert result["denials"][0]["by"] == {"name": "U.S. Department of State"}


def test_a_correction_after_a_void_does_not_revive_the_entry() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny()
    claim.void(denial)
    claim.correct(denial, {"note": "Revived?"})
    result = state(claim)
    assert result["counts"]["denials"] == 0
    assert result["status"] == "unverified"


def test_a_clarification_only_annotates_the_target() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny("U.S. Department of State")
    clarification = claim.clarify(denial, "The line concerns the coalition, not the request.")
    result = state(claim)
    assert result["status"] == "denied"
    assert result["counts"]["denials"] == 1
    (entry,) = result["denials"]
    assert entry["by"] == {"name": "U.S. Department of State"}
    assert entry["corrections"] == [
        {
            "event_id": clarification.id,
            "kind": "clarification",
            "reason": "The line concerns the coalition, not the request.",
            "recorded_at": clarification.recorded_at,
        }
    ]


def test_the_payload_stays_as_recorded_after_a_correction() -> None:
    claim = ClaimBuilder()
    first = claim.record(recorded(statement="As logged."))
    claim.correct(first, {"statement": "As corrected."})
    assert first.data is not None
    assert first.data["statement"] == "As logged."


def test_a_redacted_payload_folds_without_its_fields() -> None:
    claim = ClaimBuilder()
    claim.record()
    note = claim.note("Private source: ...")
    redacted = note._replace(data=None)
    result = fold([claim.events[0], redacted])
    assert result is not None
    assert ids(result["notes"]) == [note.id]
    assert "text" not in result["notes"][0]


# --- input order ------------------------------------------------------------------


def test_the_fold_orders_events_by_version_whatever_the_input_order() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.rate("true")
    claim.rate("false")
    assert fold(reversed(claim.events)) == fold(claim.events)
    assert state(claim)["verdict"]["value"] == "false"


# --- bitemporal replay ----------------------------------------------------------------


def monday_then_tuesday() -> tuple[ClaimBuilder, dict[str, Any]]:
    claim = ClaimBuilder(start=MONDAY)
    first = claim.record(
        recorded(statement="Deputy Secretary Sherman asked Araqchi."),
        occurred_at="2014-09-15T06:00:00Z",
    )
    denial = claim.deny(occurred_at="2014-09-15T16:00:00Z")
    claim.corroborate(occurred_at="2014-09-15T13:00:00Z")
    claim.correct(
        first,
        {"statement": "Under Secretary Sherman asked Araqchi."},
        recorded_at=TUESDAY,
        occurred_at=TUESDAY,
    )
    claim.void(denial, recorded_at=shift(TUESDAY, minutes=5), occurred_at=TUESDAY)
    return claim, {"first": first, "denial": denial}


def test_a_correction_recorded_tuesday_does_not_change_what_the_ledger_said_monday() -> None:
    claim, _ = monday_then_tuesday()
    monday = replay(claim.events, as_of=shift(MONDAY, hours=12))
    tuesday = replay(claim.events, as_of=WEDNESDAY)
    assert monday is not None
    assert tuesday is not None
    assert monday["statement"] == "Deputy Secretary Sherman asked Araqchi."
    assert monday["status"] == "disputed"
    assert monday["version"] == 3
    assert tuesday["statement"] == "Under Secretary Sherman asked Araqchi."
    assert tuesday["status"] == "corroborated"


def test_as_of_includes_an_event_recorded_exactly_at_that_time() -> None:
    claim, _ = monday_then_tuesday()
    at_correction = replay(claim.events, as_of=TUESDAY)
    assert at_correction is not None
    assert at_correction["statement"] == "Under Secretary Sherman asked Araqchi."
    assert at_correction["status"] == "disputed"


def test_as_of_before_the_claim_was_recorded_folds_to_nothing() -> None:
    claim, _ = monday_then_tuesday()
    assert replay(claim.events, as_of=shift(MONDAY, seconds=-1)) is None


def test_valid_at_folds_only_what_had_occurred_by_then() -> None:
    claim, _ = monday_then_tuesday()
    noon = replay(claim.events, valid_at="2014-09-15T14:00:00.000000Z")
    assert noon is not None
    assert noon["counts"] == {"corroborations": 1, "denials": 0, "appearances": 1}


def test_valid_at_always_applies_corrections_known_now() -> None:
    claim, _ = monday_then_tuesday()
    monday_evening = replay(claim.events, valid_at="2014-09-15T20:00:00.000000Z")
    assert monday_evening is not None
    # the correction and the void occurred on Tuesday, but they are about the record
    assert monday_evening["statement"] == "Under Secretary Sherman asked Araqchi."
    assert monday_evening["counts"]["denials"] == 0
    assert monday_evening["status"] == "corroborated"


def test_valid_at_before_the_claim_occurred_folds_to_nothing() -> None:
    claim, _ = monday_then_tuesday()
    assert replay(claim.events, valid_at="2014-09-15T05:59:59.999999Z") is None


def test_as_of_and_valid_at_combine() -> None:
    claim, _ = monday_then_tuesday()
    both = replay(
        claim.events, as_of=shift(MONDAY, hours=12), valid_at="2014-09-15T14:00:00.000000Z"
    )
    assert both is not None
    assert both["statement"] == "Deputy Secretary Sherman asked Araqchi."
    assert both["status"] == "corroborated"


def test_valid_at_keeps_a_correction_whose_target_had_not_yet_occurred_harmless() -> None:
    claim, events = monday_then_tuesday()
    early = replay(claim.events, valid_at="2014-09-15T14:00:00.000000Z")
    assert early is not None
    assert early["voided_event_ids"] == []
    assert events["denial"].id not in ids(early["denials"])


def test_replay_without_bounds_equals_the_fold() -> None:
    claim, _ = monday_then_tuesday()
    assert replay(claim.events) == fold(claim.events)


@pytest.mark.parametrize("kind", ["void", "correction", "clarification"])
def test_as_of_filters_entry_corrected_by_recorded_at_like_any_event(kind: str) -> None:
    claim = ClaimBuilder(start=MONDAY)
    claim.record()
    denial = claim.deny()
    if kind == "void":
        claim.void(denial, recorded_at=TUESDAY, occurred_at=MONDAY)
    elif kind == "correction":
        claim.correct(denial, {"note": "Added."}, recorded_at=TUESDAY, occurred_at=MONDAY)
    else:
        claim.clarify(denial, recorded_at=TUESDAY, occurred_at=MONDAY)
    before = replay(claim.events, as_of=shift(TUESDAY, seconds=-1))
    assert before == fold(claim.events[:2])


def test_a_summary_is_the_state_without_its_entry_lists_and_does_not_grow_with_them() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.corroborate()
    sizes = []
    for count in (1, 200):
        while len(state(claim)["notes"]) < count:
            claim.note(f"Note {len(claim.events)}.")
        full = state(claim)
        summary = summarize(full)
        assert {k: summary[k] for k in SUMMARY_KEYS if k != "counts"} == {
            k: full[k] for k in SUMMARY_KEYS if k != "counts"}
        assert summary["counts"] == {**full["counts"], "notes": count, "voided": 0,
                                     "redacted": 0}
        sizes.append(len(repr({k: v for k, v in summary.items() if k != "version"})))
    assert sizes[0] == sizes[1] - 2  # only the count's digits grew


def test_a_recent_state_keeps_the_latest_entries_the_counts_and_a_histogram_of_them_all() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.corroborate()
    for i in range(45):
        claim.note(f"Note {i}.", occurred_at=shift(MONDAY, hours=i))
    full = state(claim)
    cut = recent(full, keep=20)
    assert [n["text"] for n in cut["notes"]] == [f"Note {i}." for i in range(25, 45)]
    assert cut["counts"]["notes"] == 45
    assert cut["corroborations"] == full["corroborations"]
    lanes = cut["histogram"]["lanes"]
    assert [sum(row) for row in lanes] == [1, 1, 0, 0, 45]
    assert len(lanes[4]) == HISTOGRAM_BUCKETS
    assert cut["histogram"]["end"] == max(n["occurred_at"] for n in full["notes"])
    assert histogram({"notes": []}) is None


# --- links --------------------------------------------------------------------------


def test_a_claim_linked_is_listed_with_its_kind_other_claim_and_note() -> None:
    claim = ClaimBuilder()
    claim.record()
    other = claim_id(2)
    linked = claim.add("ClaimLinked", link(other, "restates", note="Same words, other day."))
    [entry] = state(claim)["links"]
    assert entry == {
        "event_id": linked.id, "target_claim_id": other, "kind": "restates",
        "note": "Same words, other day.", "occurred_at": linked.occurred_at,
    }
    assert state(claim)["status"] == "unverified"


def test_a_voided_link_disappears_and_a_corrected_one_changes_its_kind() -> None:
    claim = ClaimBuilder()
    claim.record()
    dropped = claim.add("ClaimLinked", link(claim_id(2), "same-as"))
    kept = claim.add("ClaimLinked", link(claim_id(3), "responds-to"))
    claim.void(dropped)
    claim.add("EntryCorrected", correction(kept, {"kind": "contradicts"}))
    [entry] = state(claim)["links"]
    assert (entry["event_id"], entry["kind"]) == (kept.id, "contradicts")
    assert [c["kind"] for c in entry["corrections"]] == ["correction"]


def test_a_redacted_link_is_gone() -> None:
    claim = ClaimBuilder()
    claim.record()
    linked = claim.add("ClaimLinked", link(claim_id(2)))
    assert fold([claim.events[0], linked._replace(data=None)])["links"] == []  # type: ignore[index]
