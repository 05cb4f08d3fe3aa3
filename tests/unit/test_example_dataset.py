"""The example data set ``examples/seed-2014-09-15.ndjson``, built by hand from the article.

Every line must be a valid ``/v1/imports`` line (with our ref extensions), its refs must
resolve, and folded it must tell the story the brief and issue 2 ask for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import hashing
from ledger.envelope import RecordedEvent
from ledger.events import EVENT_TYPES, validate_payload
from ledger.fold import fold
from ledger.importing import plan_import
from ledger.rules import check_correction
from ledger.store.sqlite import SQLiteEventStore
from ledger.timeutil import normalize_time
from tests.support.builders import ClaimBuilder

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "seed-2014-09-15.ndjson"
EVENTS_DOC = ROOT / "docs" / "events.md"
ARTICLE = ROOT / "examples" / "seed-article-2014-09-15.txt"  # the story the data set is built from

LINE_KEYS = {
    "claim_ref",
    "claim_id",
    "event_ref",
    "target_ref",
    "related_claim_ref",
    "type",
    "data",
    "occurred_at",
}
WIKIDATA_ITEM = re.compile(r"^https://www\.wikidata\.org/wiki/Q[1-9][0-9]*\Z")
STATE_DEPARTMENT = "U.S. Department of State"


def lines() -> list[dict[str, Any]]:
    text = DATASET.read_text(encoding="utf-8")
    return [json.loads(raw) for raw in text.splitlines() if raw.strip()]


def appearances_of(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "appearance" in data:
        yield data["appearance"]


def agents_of(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("claimant", "by", "reviewer"):
        if key in data:
            yield data[key]


class Story:
    """The data set replayed in memory: one ``ClaimBuilder`` per claim, refs resolved."""

    def __init__(self, raw_lines: list[dict[str, Any]]) -> None:
        self.claims: dict[str, ClaimBuilder] = {}
        self.events: dict[str, RecordedEvent] = {}
        self.event_claim: dict[str, str] = {}
        position = 0
        for number, line in enumerate(raw_lines, start=1):
            ref = line["claim_ref"]
            if line["type"] == "ClaimRecorded":
                assert ref not in self.claims, f"line {number}: claim_ref {ref!r} reused"
                self.claims[ref] = ClaimBuilder(len(self.claims) + 1, first_position=position + 1)
            claim = self.claims[ref]
            data = dict(line["data"])
            if "target_ref" in line:
                assert "target_event_id" not in data
                target = line["target_ref"]
                assert self.event_claim.get(target) == ref, f"line {number}: bad target_ref"
                data["target_event_id"] = self.events[target].id
            if "related_claim_ref" in line:
                related = line["related_claim_ref"]
                assert related in self.claims, f"line {number}: unknown related_claim_ref"
                data["related_claim_id"] = self.claims[related].claim_id
            payload = validate_payload(line["type"], data)
            if line["type"] == "EntryCorrected":
                payload = check_correction(payload, claim.events)
            claim._position = position
            event = claim.add(line["type"], payload, occurred_at=line.get("occurred_at"))
            position = event.position
            if "event_ref" in line:
                assert line["event_ref"] not in self.events, f"line {number}: event_ref reused"
                self.events[line["event_ref"]] = event
                self.event_claim[line["event_ref"]] = ref

    def state(self, ref: str) -> dict[str, Any]:
        result = fold(self.claims[ref].events)
        assert result is not None
        return result

    def states(self) -> dict[str, dict[str, Any]]:
        return {ref: self.state(ref) for ref in self.claims}

    def find(self, *words: str) -> dict[str, Any]:
        """The one claim whose statement contains every word."""
        found = [
            s
            for s in self.states().values()
            if all(w.lower() in s["statement"].lower() for w in words)
        ]
        assert len(found) == 1, (words, [s["statement"] for s in found])
        return found[0]


@pytest.fixture(scope="module")
def story() -> Story:
    return Story(lines())


# --- the line format ---------------------------------------------------------------------


def test_every_line_is_a_json_object_in_the_import_line_format() -> None:
    for number, line in enumerate(lines(), start=1):
        assert isinstance(line, dict), number
        assert set(line) <= LINE_KEYS, (number, set(line) - LINE_KEYS)
        assert line["type"] in EVENT_TYPES, number
        assert isinstance(line["data"], dict), number
        assert "claim_id" not in line, "the example names claims by claim_ref only"
        assert "claim_ref" in line, number


def test_every_payload_passes_validation_once_its_refs_are_filled_in() -> None:
    placeholder = "00000000-0000-4000-8000-000000000000"
    for number, line in enumerate(lines(), start=1):
        data = dict(line["data"])
        if "target_ref" in line:
            data["target_event_id"] = placeholder
        if "related_claim_ref" in line:
            data["related_claim_id"] = placeholder
        validate_payload(line["type"], data, path=f"lines.{number}.data")


def test_target_and_related_refs_appear_only_on_the_types_that_take_them() -> None:
    for number, line in enumerate(lines(), start=1):
        if "target_ref" in line:
            assert line["type"] == "EntryCorrected", number
        if line["type"] == "EntryCorrected":
            assert "target_ref" in line, number
        if "related_claim_ref" in line:
            assert line["type"] in ("ClaimCorroborated", "ClaimDenied"), number


def test_refs_resolve_to_earlier_lines(story: Story) -> None:
    # Story() asserts as it goes: claim_refs from earlier ClaimRecorded lines, event_refs
    # unique, target_refs to an earlier event of the same claim, related_claim_refs to an
    # earlier claim, and every correction accepted by the ledger's rules.
    assert len(story.events) == sum(1 for line in lines() if "event_ref" in line)


def test_every_event_has_an_occurred_at_in_september_2014_with_a_zone() -> None:
    for number, line in enumerate(lines(), start=1):
        assert "occurred_at" in line, number
        assert re.search(r"(Z|[+-]\d{2}:\d{2})$", line["occurred_at"]), number
        assert normalize_time(line["occurred_at"]).startswith("2014-09-"), number
        for appearance in appearances_of(line["data"]):
            if "published_at" in appearance:
                assert normalize_time(appearance["published_at"]).startswith("2014-09-"), number


def test_quotes_are_short_and_taken_from_the_article() -> None:
    if not ARTICLE.exists():
        pytest.skip(f"the source article is not at {ARTICLE}")
    article = ARTICLE.read_text(encoding="utf-8")
    quotes = [
        appearance["quote"]
        for line in lines()
        for appearance in appearances_of(line["data"])
        if "quote" in appearance
    ]
    assert len(quotes) >= 5
    for quote in quotes:
        assert len(quote) < 300, quote
        assert quote in article, quote


def test_agents_carry_same_as_only_as_wikidata_items() -> None:
    for line in lines():
        for agent in agents_of(line["data"]):
            if "same_as" in agent:
                assert WIKIDATA_ITEM.match(agent["same_as"]), agent


def test_outlets_are_the_real_ones_of_the_story() -> None:
    outlets = {
        appearance["outlet"] for line in lines() for appearance in appearances_of(line["data"])
    }
    assert outlets <= {"Fars News Agency", "Washington Free Beacon", "The New York Times"}


# --- the story -------------------------------------------------------------------------------


def test_at_least_the_five_claims_of_the_story_are_recorded(story: Story) -> None:
    assert len(story.claims) >= 5
    for words in (
        ("Kerry", "Zarif"),
        ("Sherman", "Araqchi"),
        ("ambassador to Iraq", "envoy"),
        ("lying", "coalition"),
        ("two new nuclear power plants", "Bushehr"),
    ):
        assert story.find(*words)["status"] != "voided"
    for words in (("Kerry", "Zarif"), ("Sherman",), ("ambassador to Iraq",), ("lying",)):
        assert story.find(*words)["claimant"]["name"] == "Ali Khamenei"


def test_the_state_department_denies_the_kerry_claim(story: Story) -> None:
    kerry = story.find("Kerry", "Zarif")
    assert STATE_DEPARTMENT in {d["by"]["name"] for d in kerry["denials"]}


def test_the_new_york_times_and_kerry_in_paris_corroborate_it(story: Story) -> None:
    kerry = story.find("Kerry", "Zarif")
    names = {c["by"]["name"] for c in kerry["corroborations"]}
    assert {"The New York Times", "John Kerry"} <= names
    assert kerry["status"] == "disputed"


def test_khamenei_denies_the_state_departments_line_citing_the_lying_claim(story: Story) -> None:
    line = story.find("not welcome")
    assert line["claimant"]["name"] == STATE_DEPARTMENT
    (denial,) = line["denials"]
    assert denial["by"]["name"] == "Ali Khamenei"
    assert denial["related_claim_id"] == story.find("lying")["id"]


def test_at_least_one_verdict_on_the_standard_scale(story: Story) -> None:
    verdicts = [s["verdict"] for s in story.states().values() if s["verdict"]]
    assert verdicts
    for verdict in verdicts:
        assert verdict["scale"] == "standard"
        assert verdict["value"] in {"true", "mostly-true", "mixed", "mostly-false", "false"}


def test_a_mistaken_duplicate_appearance_is_voided_and_no_longer_counts(story: Story) -> None:
    voided = {ref: s for ref, s in story.states().items() if s["voided_event_ids"]}
    assert voided
    for ref, state in voided.items():
        events = {e.id: e for e in story.claims[ref].events}
        for event_id in state["voided_event_ids"]:
            assert events[event_id].type != "ClaimRecorded"
            assert event_id not in {a["event_id"] for a in state["appearances"]}
            assert event_id not in {d["event_id"] for d in state["denials"]}
        appended = sum(1 for e in events.values() if e.type in ("ClaimRecorded", "AppearanceAdded"))
        assert state["counts"]["appearances"] == appended - len(state["voided_event_ids"])


def test_a_correction_and_a_clarification_are_applied(story: Story) -> None:
    kinds = {line["data"]["kind"] for line in lines() if line["type"] == "EntryCorrected"}
    assert {"void", "correction", "clarification"} <= kinds
    sherman = story.find("Sherman", "Araqchi")
    assert "under secretary" in sherman["statement"]
    assert "Deputy Secretary" not in sherman["statement"]
    kerry = story.find("Kerry", "Zarif")
    (state_denial,) = kerry["denials"]
    assert state_denial["corrections"][0]["kind"] == "clarification"


# --- through the real importer and store ----------------------------------------------------


def test_the_data_set_imports_into_a_fresh_store_and_folds_the_same(tmp_path: Path) -> None:
    text = DATASET.read_text(encoding="utf-8").splitlines()
    plan = plan_import(text)
    store = SQLiteEventStore(tmp_path / "ledger.db")
    store.init()
    try:
        recorded = store.append(plan.events, actor="seed")
        assert [e.position for e in recorded] == list(range(1, len(lines()) + 1))
        story = Story(lines())
        for ref, claim_id in plan.claims.items():
            stored = fold(store.read_claim(claim_id))
            assert stored is not None
            mine = story.state(ref)
            for key in ("status", "statement", "counts", "tags", "version"):
                assert stored[key] == mine[key], (ref, key)
            assert (stored["verdict"] or {}).get("value") == (mine["verdict"] or {}).get("value")
    finally:
        store.close()


# --- the worked example of docs/events.md ----------------------------------------------------


def worked_example() -> tuple[list[dict[str, Any]], list[bytes], str, str]:
    """The envelopes, leaf inputs, Python code and full text of the worked example."""
    text = EVENTS_DOC.read_text(encoding="utf-8")
    section = text.split("### Worked example", 1)[1]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.DOTALL)
    envelopes = [json.loads(body) for lang, body in blocks if lang == "json"]
    leaf_inputs = [
        body.strip().encode("utf-8")
        for lang, body in blocks
        if lang == "" and body.startswith('{"actor"')
    ]
    (code,) = [body for lang, body in blocks if lang == "python"]
    return envelopes, leaf_inputs, code, section


def test_the_worked_leaf_hash_example_in_docs_recomputes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    envelopes, leaf_inputs, code, section = worked_example()
    assert len(envelopes) == 2
    assert len(leaf_inputs) == 2
    namespace: dict[str, Any] = {"__name__": "docs_events_md"}
    exec(compile(code, "docs/events.md", "exec"), namespace)
    computed = []
    for envelope, leaf_input in zip(envelopes, leaf_inputs, strict=True):
        payload_sha256, doc_leaf_input, leaf_hash = namespace["recompute"](envelope)
        assert payload_sha256 == envelope["payload_sha256"]
        assert leaf_hash == envelope["leaf_hash"]
        assert doc_leaf_input == leaf_input
        # the ledger's own code agrees with the page
        event = RecordedEvent.from_json(envelope)
        assert event.leaf_input() == leaf_input
        assert hashing.leaf_hash(event.leaf_input()).hex() == leaf_hash
        assert hashing.payload_sha256(envelope["data"]) == payload_sha256
        assert validate_payload(envelope["type"], envelope["data"]) == envelope["data"]
        computed += [payload_sha256, leaf_hash]
    assert envelopes[0]["prev_hash"] is None
    assert envelopes[1]["prev_hash"] == envelopes[0]["leaf_hash"]
    assert f"({len(leaf_inputs[0])} bytes" in section
    for hex_digest in re.findall(r"\b[0-9a-f]{64}\b", section):
        assert hex_digest in computed, hex_digest
    namespace["check"](json.dumps(e) for e in envelopes)
    assert capsys.readouterr().out == "ok\n"


def test_the_worked_example_is_events_of_the_data_set() -> None:
    envelopes, _, _, _ = worked_example()
    by_ref = {line.get("event_ref"): line for line in lines()}
    for envelope, ref in zip(
        envelopes,
        ["state-iran-not-welcome/recorded", "state-iran-not-welcome/khamenei-denial"],
        strict=True,
    ):
        line = by_ref[ref]
        data = dict(line["data"])
        if "related_claim_ref" in line:
            data["related_claim_id"] = envelope["data"]["related_claim_id"]
        assert validate_payload(line["type"], data) == envelope["data"]
        assert normalize_time(line["occurred_at"]) == envelope["occurred_at"]


def test_every_payload_example_in_docs_is_valid_for_its_type() -> None:
    text = EVENTS_DOC.read_text(encoding="utf-8")
    types = text.split("## Event types", 1)[1].split("## The fold", 1)[0]
    checked = set()
    for section in types.split("\n### ")[1:]:
        event_type = section.split("\n", 1)[0].strip()
        assert event_type in EVENT_TYPES, event_type
        for body in re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL):
            validate_payload(event_type, json.loads(body))
            checked.add(event_type)
    assert checked == set(EVENT_TYPES)
