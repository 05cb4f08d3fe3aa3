"""Property-based tests (hypothesis) of the fold and the bitemporal replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.envelope import RecordedEvent
from ledger.errors import ValidationFailed
from ledger.events import LINK_KINDS
from ledger.fold import fold, replay
from ledger.rules import check_correction
from ledger.scales import STANDARD
from ledger.timeutil import format_time, parse_time
from tests.support.builders import (
    MONDAY,
    ClaimBuilder,
    by,
    claim_id,
    clarification,
    correction,
    link,
    note,
    void,
)

VALUES = [v.value for v in STANDARD.values]
AGENTS = ["The New York Times", "John Kerry", "U.S. Department of State", "Fars News Agency"]
OUTLETS = ["Fars News Agency", "Washington Free Beacon", "The New York Times"]

SETTINGS = settings(deadline=None, max_examples=150)

# One operation on a claim: a plain entry, or an EntryCorrected aimed at the n-th earlier
# entry (taken modulo the entries that exist when the operation is applied).
entry_ops = st.one_of(
    st.tuples(st.just("AppearanceAdded"), st.sampled_from(OUTLETS)),
    st.tuples(st.just("ClaimCorroborated"), st.sampled_from(AGENTS)),
    st.tuples(st.just("ClaimDenied"), st.sampled_from(AGENTS)),
    st.tuples(st.just("ClaimRetracted"), st.sampled_from(AGENTS)),
    st.tuples(st.just("VerdictIssued"), st.sampled_from(VALUES)),
    st.tuples(st.just("NoteAdded"), st.text("abc ", min_size=1, max_size=5).map(lambda t: t + ".")),
    st.tuples(st.just("ClaimLinked"), st.tuples(st.sampled_from(LINK_KINDS), st.integers(2, 4))),
)
correction_ops = st.tuples(
    st.sampled_from(["void", "correction", "clarification"]), st.integers(0, 50)
)
operations = st.lists(st.one_of(entry_ops, correction_ops), max_size=25)


def changes_for(target: RecordedEvent, salt: int) -> dict[str, Any]:
    """A valid ``changes`` object for a correction of ``target``."""
    if target.type == "ClaimRecorded":
        return {"statement": f"Corrected statement {salt}."}
    if target.type == "AppearanceAdded":
        return {"appearance": {"outlet": OUTLETS[salt % len(OUTLETS)]}}
    if target.type == "VerdictIssued":
        return {"value": VALUES[salt % len(VALUES)]}
    if target.type == "NoteAdded":
        return {"text": f"Corrected note {salt}."}
    if target.type == "ClaimLinked":
        return {"kind": LINK_KINDS[salt % len(LINK_KINDS)], "note": f"Corrected note {salt}."}
    return {"note": f"Corrected note {salt}."}


def correction_payload(kind: str, target: RecordedEvent, salt: int) -> dict[str, Any]:
    if kind == "void":
        return void(target)
    if kind == "correction":
        return correction(target, changes_for(target, salt))
    return clarification(target)


def build(
    ops: Sequence[tuple[str, Any]],
    *,
    lawful: bool = True,
    gaps: Sequence[int] | None = None,
    occurred: Sequence[int] | None = None,
    corrections_occur: int | None = None,
) -> list[RecordedEvent]:
    """A claim's events from operations.

    ``lawful`` keeps only corrections that ``check_correction`` accepts (as the store
    would); otherwise every correction is appended, however odd, and may even target
    another correction. ``gaps`` are minutes between successive ``recorded_at`` (0
    allowed: equal times); ``occurred`` are minute offsets of ``occurred_at`` from Monday
    morning, and ``corrections_occur`` the offset of every ``EntryCorrected``.
    """
    claim = ClaimBuilder(validate=False)
    clock = parse_time(MONDAY)
    counter = 0

    def times(correcting: bool = False) -> dict[str, str]:
        nonlocal clock, counter
        counter += 1
        if gaps is not None:
            clock += timedelta(minutes=gaps[counter % len(gaps)])
        else:
            clock += timedelta(minutes=1)
        out = {"recorded_at": format_time(clock)}
        minutes: int | None = None
        if occurred is not None:
            minutes = occurred[counter % len(occurred)]
        if correcting and corrections_occur is not None:
            minutes = corrections_occur
        if minutes is not None:
            out["occurred_at"] = format_time(parse_time(MONDAY) + timedelta(minutes=minutes))
        return out

    claim.add("ClaimRecorded", _recorded(), **times())
    for kind, arg in ops:
        if kind in ("void", "correction", "clarification"):
            entries = [e for e in claim.events if not lawful or e.type != "EntryCorrected"]
            target = entries[arg % len(entries)]
            payload = correction_payload(kind, target, arg)
            if lawful:
                try:
                    payload = check_correction(payload, claim.events)
                except ValidationFailed:
                    continue
            claim.add("EntryCorrected", payload, **times(correcting=True))
        elif kind == "AppearanceAdded":
            claim.add(kind, {"appearance": {"outlet": arg}}, **times())
        elif kind == "VerdictIssued":
            claim.add(kind, {"scale": "standard", "value": arg, "explanation": "Rated."}, **times())
        elif kind == "NoteAdded":
            claim.add(kind, note(arg), **times())
        elif kind == "ClaimLinked":
            claim.add(kind, link(claim_id(arg[1]), arg[0]), **times())
        else:
            claim.add(kind, by(arg), **times())
    return claim.events


def _recorded() -> dict[str, Any]:
    return {
        "statement": "Kerry personally asked Zarif to cooperate against ISIL.",
        "claimant": {"name": "Ali Khamenei"},
        "appearance": {"outlet": "Fars News Agency"},
    }


def folded(events: Sequence[RecordedEvent]) -> dict[str, Any]:
    result = fold(events)
    assert result is not None
    return result


def summary(state: dict[str, Any]) -> dict[str, Any]:
    """What a reader sees of a claim, without the bookkeeping of versions and times."""
    return {
        "status": state["status"],
        "verdict": state["verdict"] and state["verdict"]["event_id"],
        "counts": state["counts"],
        "corroborations": [e["event_id"] for e in state["corroborations"]],
        "denials": [e["event_id"] for e in state["denials"]],
        "appearances": [e["event_id"] for e in state["appearances"]],
        "retraction": state["retraction"] and state["retraction"]["event_id"],
    }


def without_bookkeeping(value: Any) -> Any:
    """A state without its version, update time and correction annotations."""
    if isinstance(value, dict):
        return {
            k: without_bookkeeping(v)
            for k, v in value.items()
            if k not in ("version", "updated_at", "corrections")
        }
    if isinstance(value, list):
        return [without_bookkeeping(v) for v in value]
    return value


def with_event(events: list[RecordedEvent], type: str, data: dict[str, Any]) -> list[RecordedEvent]:
    """``events`` plus one more event appended at the next version."""
    claim = ClaimBuilder.continuing(events)
    return [*events, claim.add(type, data, recorded_at=events[-1].recorded_at)]


lawful_histories = operations.map(build)
raw_histories = operations.map(lambda ops: build(ops, lawful=False))
any_history = st.one_of(lawful_histories, raw_histories)


# --- determinism and order ---------------------------------------------------------


@SETTINGS
@given(any_history, st.randoms(use_true_random=False))
def test_folding_is_deterministic_and_independent_of_input_order(
    events: list[RecordedEvent], random: Any
) -> None:
    shuffled = list(events)
    random.shuffle(shuffled)
    assert fold(events) == fold(events)
    assert fold(shuffled) == fold(events)


@SETTINGS
@given(
    operations,
    st.lists(st.integers(0, 3), min_size=1, max_size=10),
    st.lists(st.integers(-600, 3000), min_size=1, max_size=10),
    st.integers(-600, 3000),
    st.randoms(use_true_random=False),
)
def test_replay_is_independent_of_input_order(
    ops: list[tuple[str, Any]], gaps: list[int], occurred: list[int], cut: int, random: Any
) -> None:
    events = build(ops, gaps=gaps, occurred=occurred)
    shuffled = list(events)
    random.shuffle(shuffled)
    time = format_time(parse_time(MONDAY) + timedelta(minutes=cut))
    assert replay(shuffled, as_of=time) == replay(events, as_of=time)
    assert replay(shuffled, valid_at=time) == replay(events, valid_at=time)


# --- bitemporal replay ----------------------------------------------------------------


@SETTINGS
@given(lawful_histories)
def test_replay_as_of_an_events_recorded_at_equals_folding_the_prefix(
    events: list[RecordedEvent],
) -> None:
    for k, event in enumerate(events):
        assert replay(events, as_of=event.recorded_at) == fold(events[: k + 1])


@SETTINGS
@given(operations, st.lists(st.integers(0, 2), min_size=1, max_size=10))
def test_replay_as_of_a_time_folds_exactly_the_events_recorded_by_then(
    ops: list[tuple[str, Any]], gaps: list[int]
) -> None:
    events = build(ops, gaps=gaps)
    for event in events:
        recorded_by_then = [e for e in events if e.recorded_at <= event.recorded_at]
        assert replay(events, as_of=event.recorded_at) == fold(recorded_by_then)


@SETTINGS
@given(
    operations,
    st.lists(st.integers(-600, 3000), min_size=1, max_size=10),
    st.integers(-700, 3100),
)
def test_replay_valid_at_folds_what_occurred_by_then_plus_every_entry_corrected(
    ops: list[tuple[str, Any]], occurred: list[int], cut: int
) -> None:
    events = build(ops, occurred=occurred)
    time = format_time(parse_time(MONDAY) + timedelta(minutes=cut))
    chosen = [e for e in events if e.type == "EntryCorrected" or e.occurred_at <= time]
    assert replay(events, valid_at=time) == fold(chosen)


@SETTINGS
@given(operations, st.lists(st.integers(-600, 3000), min_size=1, max_size=10))
def test_valid_at_applies_every_entry_corrected_whenever_it_occurred(
    ops: list[tuple[str, Any]], occurred: list[int]
) -> None:
    events = build(ops, occurred=occurred, corrections_occur=100_000)
    latest_entry = max(e.occurred_at for e in events if e.type != "EntryCorrected")
    assert replay(events, valid_at=latest_entry) == fold(events)
    early = build(ops, occurred=occurred, corrections_occur=-100_000)
    assert replay(events, valid_at=latest_entry) == replay(early, valid_at=latest_entry)


@SETTINGS
@given(operations, st.lists(st.integers(-600, 3000), min_size=1, max_size=10))
def test_replay_bounded_after_everything_equals_the_fold(
    ops: list[tuple[str, Any]], occurred: list[int]
) -> None:
    events = build(ops, occurred=occurred)
    late = "2099-01-01T00:00:00.000000Z"
    assert replay(events) == fold(events)
    assert replay(events, as_of=late, valid_at=late) == fold(events)


@SETTINGS
@given(lawful_histories, st.data())
def test_an_entry_corrected_recorded_later_never_changes_an_earlier_replay(
    events: list[RecordedEvent], data: st.DataObject
) -> None:
    entries = [e for e in events if e.type != "EntryCorrected"]
    target = data.draw(st.sampled_from(entries))
    kind = data.draw(st.sampled_from(["void", "correction", "clarification"]))
    try:
        payload = check_correction(correction_payload(kind, target, 1), events)
    except ValidationFailed:
        return
    claim = ClaimBuilder.continuing(events)
    later = format_time(parse_time(events[-1].recorded_at) + timedelta(days=1))
    claim.add("EntryCorrected", payload, recorded_at=later, occurred_at=MONDAY)
    for event in events:
        assert replay(claim.events, as_of=event.recorded_at) == replay(
            events, as_of=event.recorded_at
        )


# --- voids ----------------------------------------------------------------------------


@SETTINGS
@given(lawful_histories, st.data())
def test_a_void_makes_its_target_count_as_never_appended(
    events: list[RecordedEvent], data: st.DataObject
) -> None:
    voided = set(folded(events)["voided_event_ids"])
    candidates = [
        e
        for e in events
        if e.type not in ("EntryCorrected", "ClaimRecorded") and e.id not in voided
    ]
    if not candidates:
        return
    target = data.draw(st.sampled_from(candidates))
    after_void = with_event(events, "EntryCorrected", void(target))
    never_appended = [
        e
        for e in events
        if e.id != target.id and not (e.data and e.data.get("target_event_id") == target.id)
    ]
    assert summary(folded(after_void)) == summary(folded(never_appended))


@SETTINGS
@given(lawful_histories)
def test_voiding_the_claim_recorded_makes_the_status_voided(events: list[RecordedEvent]) -> None:
    state = folded(events)
    if events[0].id in state["voided_event_ids"]:
        assert state["status"] == "voided"
        return
    after = folded(with_event(events, "EntryCorrected", void(events[0])))
    assert after["status"] == "voided"
    kept = [a for a in state["appearances"] if a["event_id"] != events[0].id]
    assert after["appearances"] == kept


@SETTINGS
@given(lawful_histories, st.data())
def test_after_a_void_further_voids_and_notes_never_change_the_counts(
    events: list[RecordedEvent], data: st.DataObject
) -> None:
    entries = [e for e in events if e.type != "EntryCorrected"]
    target = data.draw(st.sampled_from(entries))
    events = with_event(events, "EntryCorrected", void(target))
    expected = folded(events)
    assert target.id in expected["voided_event_ids"]
    more = data.draw(st.lists(st.sampled_from(["void", "note"]), max_size=6))
    for what in more:
        if what == "void":
            events = with_event(events, "EntryCorrected", void(target, reason="Again."))
        else:
            events = with_event(events, "NoteAdded", note("Still voided."))
        state = folded(events)
        assert state["counts"] == expected["counts"]
        assert summary(state) == summary(expected)
        assert state["voided_event_ids"] == expected["voided_event_ids"]


@SETTINGS
@given(lawful_histories, st.data())
def test_once_voided_an_entry_is_beyond_correction_and_clarification(
    events: list[RecordedEvent], data: st.DataObject
) -> None:
    entries = [e for e in events if e.type != "EntryCorrected"]
    target = data.draw(st.sampled_from(entries))
    events = with_event(events, "EntryCorrected", void(target))
    expected = without_bookkeeping(folded(events))
    kind = data.draw(st.sampled_from(["correction", "clarification"]))
    after = with_event(events, "EntryCorrected", correction_payload(kind, target, 7))
    assert without_bookkeeping(folded(after)) == expected


@SETTINGS
@given(any_history, st.data())
def test_a_void_never_increases_any_count(events: list[RecordedEvent], data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(events))
    before = folded(events)["counts"]
    after = folded(with_event(events, "EntryCorrected", void(target)))["counts"]
    for key, value in after.items():
        assert value <= before[key]


# --- corrections and clarifications -----------------------------------------------------


@SETTINGS
@given(lawful_histories, st.data())
def test_a_correction_applies_its_changes_to_its_target(
    events: list[RecordedEvent], data: st.DataObject
) -> None:
    voided = set(folded(events)["voided_event_ids"])
    candidates = [e for e in events if e.type != "EntryCorrected" and e.id not in voided]
    if not candidates:
        return
    target = data.draw(st.sampled_from(candidates))
    salt = data.draw(st.integers(0, 20))
    changes = changes_for(target, salt)
    try:
        payload = check_correction(correction(target, changes), events)
    except ValidationFailed:
        # only a link's kind corrected into a link the claim already has is refused
        assert target.type == "ClaimLinked"
        return
    state = folded(with_event(events, "EntryCorrected", payload))
    if target.type == "ClaimRecorded":
        assert state["statement"] == changes["statement"]
        return
    if target.type == "VerdictIssued":
        verdicts = [e for e in events if e.type == "VerdictIssued" and e.id not in voided]
        if verdicts[-1].id == target.id:
            assert state["verdict"]["value"] == changes["value"]
        return
    if target.type == "ClaimRetracted":
        listed = [state["retraction"]] if state["retraction"] else []
    else:
        key = {
            "AppearanceAdded": "appearances",
            "ClaimCorroborated": "corroborations",
            "ClaimDenied": "denials",
            "NoteAdded": "notes",
            "ClaimLinked": "links",
        }[target.type]
        listed = state[key]
    entries = [e for e in listed if e["event_id"] == target.id]
    if target.type == "ClaimRetracted" and not entries:
        return  # a later retraction is the one shown
    (entry,) = entries
    if target.type == "AppearanceAdded":
        assert entry["outlet"] == changes["appearance"]["outlet"]
    else:
        for field in changes:
            assert entry[field] == changes[field]
    assert entry["corrections"][-1]["kind"] == "correction"


@SETTINGS
@given(lawful_histories, st.data())
def test_a_clarification_changes_nothing_but_the_annotations(
    events: list[RecordedEvent], data: st.DataObject
) -> None:
    entries = [e for e in events if e.type != "EntryCorrected"]
    target = data.draw(st.sampled_from(entries))
    after = with_event(events, "EntryCorrected", clarification(target))
    assert without_bookkeeping(folded(after)) == without_bookkeeping(folded(events))


# --- invariants of every state ----------------------------------------------------------


@SETTINGS
@given(any_history)
def test_counts_equal_the_lengths_of_the_lists(events: list[RecordedEvent]) -> None:
    state = folded(events)
    assert state["counts"] == {
        "corroborations": len(state["corroborations"]),
        "denials": len(state["denials"]),
        "appearances": len(state["appearances"]),
    }


@SETTINGS
@given(any_history)
def test_the_status_is_consistent_with_the_counts(events: list[RecordedEvent]) -> None:
    state = folded(events)
    c, d = state["counts"]["corroborations"], state["counts"]["denials"]
    recorded_voided = events[0].id in state["voided_event_ids"]
    if recorded_voided:
        expected = "voided"
    elif state["retraction"] is not None:
        expected = "retracted"
    else:
        expected = {
            (False, False): "unverified",
            (True, False): "corroborated",
            (False, True): "denied",
            (True, True): "disputed",
        }[(c > 0, d > 0)]
    assert state["status"] == expected


@SETTINGS
@given(any_history)
def test_no_active_list_holds_a_voided_entry(events: list[RecordedEvent]) -> None:
    state = folded(events)
    voided = set(state["voided_event_ids"])
    listed = {
        e["event_id"]
        for key in ("appearances", "corroborations", "denials", "notes", "links")
        for e in state[key]
    }
    assert not listed & voided
    assert all(e.type != "EntryCorrected" for e in events if e.id in voided)


@SETTINGS
@given(any_history)
def test_the_verdict_is_the_latest_active_verdict_issued(events: list[RecordedEvent]) -> None:
    state = folded(events)
    voided = set(state["voided_event_ids"])
    verdicts = [e for e in events if e.type == "VerdictIssued" and e.id not in voided]
    if not verdicts:
        assert state["verdict"] is None
    else:
        latest = max(verdicts, key=lambda e: e.version)
        assert state["verdict"]["event_id"] == latest.id
        rating = STANDARD.get(state["verdict"]["value"])
        assert rating is not None
        assert state["verdict"]["rating"] == rating.rating


@SETTINGS
@given(any_history)
def test_every_listed_entry_of_a_type_is_an_active_event_of_that_type(
    events: list[RecordedEvent],
) -> None:
    state = folded(events)
    voided = set(state["voided_event_ids"])
    for key, event_type in (
        ("corroborations", "ClaimCorroborated"), ("denials", "ClaimDenied"),
        ("links", "ClaimLinked"),
    ):
        expected = [e.id for e in events if e.type == event_type and e.id not in voided]
        assert [e["event_id"] for e in state[key]] == expected


# --- notes ------------------------------------------------------------------------------


@SETTINGS
@given(any_history, st.text("xyz .", min_size=1, max_size=20).filter(str.strip))
def test_a_note_added_never_changes_status_verdict_or_counts(
    events: list[RecordedEvent], text: str
) -> None:
    before = folded(events)
    after = folded(with_event(events, "NoteAdded", note(text)))
    for key in ("status", "verdict", "counts", "corroborations", "denials", "appearances"):
        assert after[key] == before[key]
    assert len(after["notes"]) == len(before["notes"]) + 1


@SETTINGS
@given(lawful_histories)
def test_taking_every_note_away_changes_nothing_but_the_notes(events: list[RecordedEvent]) -> None:
    without_notes = [e for e in events if e.type != "NoteAdded"]
    assert summary(folded(without_notes)) == summary(folded(events))


# --- links ------------------------------------------------------------------------------


@SETTINGS
@given(any_history, st.sampled_from(LINK_KINDS), st.integers(2, 4))
def test_a_claim_linked_never_changes_status_verdict_or_counts(
    events: list[RecordedEvent], kind: str, other: int
) -> None:
    before = folded(events)
    after = folded(with_event(events, "ClaimLinked", link(claim_id(other), kind)))
    for key in ("status", "verdict", "counts", "corroborations", "denials", "appearances",
                "notes"):
        assert after[key] == before[key]
    assert after["links"][:-1] == before["links"]
    assert {k: after["links"][-1][k] for k in ("target_claim_id", "kind")} == {
        "target_claim_id": claim_id(other), "kind": kind}


@SETTINGS
@given(lawful_histories)
def test_voiding_a_link_is_taking_it_away(events: list[RecordedEvent]) -> None:
    state = folded(events)
    for entry in state["links"]:
        voided = folded(with_event(events, "EntryCorrected", void(entry["event_id"])))
        assert [e["event_id"] for e in voided["links"]] == [
            e["event_id"] for e in state["links"] if e["event_id"] != entry["event_id"]]
        assert summary(voided) == summary(state)


@SETTINGS
@given(lawful_histories)
def test_a_link_keeps_its_other_claim_and_takes_its_corrected_kind_and_note(
    events: list[RecordedEvent],
) -> None:
    state = folded(events)
    by_id = {e.id: e for e in events}
    for entry in state["links"]:
        original = by_id[entry["event_id"]].data or {}
        assert entry["target_claim_id"] == original["target_claim_id"]
        changes = [e.data["changes"] for e in events if e.type == "EntryCorrected" and e.data
                   and e.data["target_event_id"] == entry["event_id"]
                   and e.data["kind"] == "correction"]
        assert entry["kind"] == (changes[-1]["kind"] if changes else original["kind"])
        assert entry.get("note") == (changes[-1]["note"] if changes else original.get("note"))


# --- lawful histories ---------------------------------------------------------------------


@SETTINGS
@given(lawful_histories)
def test_every_accepted_void_voids_its_target(events: list[RecordedEvent]) -> None:
    voids = [
        e.data["target_event_id"]
        for e in events
        if e.type == "EntryCorrected" and e.data and e.data["kind"] == "void"
    ]
    assert len(voids) == len(set(voids))
    assert sorted(voids) == folded(events)["voided_event_ids"]
