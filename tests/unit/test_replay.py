"""The whole-log replay: pure checks of every event, the tree it builds, and resuming."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import hashing
from ledger.replay import Replay, ReplayState
from tests.support.builders import claim_id, event_id

TIME = "2014-09-15T08:00:{:02d}.000000Z"


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, written out recursively as the RFC gives it (the reference)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashing.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def make_log(claims: list[int], texts: list[str] | None = None,
             actor: str = "desk@example.org") -> list[dict[str, Any]]:
    """Event JSON as GET /v1/events serves it: claim ``claims[i]`` gets the i-th event."""
    heads: dict[int, tuple[int, str]] = {}
    events = []
    for index, number in enumerate(claims):
        version, prev = heads.get(number, (0, None))
        data = {"text": texts[index] if texts else f"note {index} « ü 中文 »"}
        fields = {
            "position": index + 1, "id": event_id(number, version + 1),
            "claim_id": claim_id(number), "version": version + 1, "type": "NoteAdded",
            "schema_version": 1, "occurred_at": TIME.format(index % 60),
            "recorded_at": TIME.format(min(index, 59)), "actor": actor,
            "payload_sha256": hashing.payload_sha256(data), "prev_hash": prev,
        }
        leaf = hashing.leaf_hash(hashing.leaf_input(**fields)).hex()
        events.append({**fields, "data": data, "metadata": {}, "leaf_hash": leaf})
        heads[number] = (version + 1, leaf)
    return events


def _leaves(events: list[dict[str, Any]]) -> list[bytes]:
    return [bytes.fromhex(e["leaf_hash"]) for e in events]


claim_lists = st.lists(st.integers(0, 5), min_size=0, max_size=60)


@settings(max_examples=60, deadline=None)
@given(claims=claim_lists, cuts=st.lists(st.integers(0, 60), max_size=5))
def test_any_paging_and_any_resume_give_the_reference_root(
    claims: list[int], cuts: list[int]
) -> None:
    events = make_log(claims)
    bounds = sorted({min(c, len(events)) for c in cuts} | {0, len(events)})
    replay = Replay()
    for start, end in itertools.pairwise(bounds):
        saved = json.loads(json.dumps(replay.state().to_json()))
        replay = Replay(ReplayState.from_json(saved))  # a new run goes on from the file
        assert replay.feed(events[start:end]) is None, replay.failure
        assert replay.root() == _mth(_leaves(events[:end]))
    assert replay.size == len(events)
    assert replay.root() == _mth(_leaves(events))


@settings(max_examples=40, deadline=None)
@given(
    claims=st.lists(st.integers(0, 3), min_size=1, max_size=30),
    data=st.data(),
)
def test_any_changed_payload_is_named_at_its_position(claims: list[int], data: Any) -> None:
    events = make_log(claims)
    victim = data.draw(st.integers(0, len(events) - 1))
    events[victim]["data"] = {"text": events[victim]["data"]["text"] + "!"}
    replay = Replay()
    failure = replay.feed(events)
    assert failure is not None
    assert (failure.position, failure.check) == (victim + 1, "payload")
    assert replay.size == victim  # stopped there
    assert replay.feed(events) is failure  # and stays stopped


FIELD_CHANGES = [
    ("actor", "mallory", "leaf"),
    ("occurred_at", "2014-09-15T09:00:00.000000Z", "leaf"),
    ("type", "DenialAdded", "leaf"),
    ("payload_sha256", "0" * 64, "payload"),
    ("leaf_hash", "f" * 64, "leaf"),
    ("position", 9, "position"),
    ("position", "2", "format"),
    ("version", True, "format"),
    ("id", 7, "format"),
    ("leaf_hash", "F" * 64, "leaf"),
]


@pytest.mark.parametrize(("name", "value", "check"), FIELD_CHANGES)
def test_a_changed_field_fails_the_right_check(name: str, value: Any, check: str) -> None:
    events = make_log([0, 1, 0, 1])
    events[1][name] = value
    failure = Replay().feed(events)
    assert failure is not None
    assert (failure.position, failure.check) == (2, check), failure


def test_a_missing_or_repeated_event_is_a_position_failure() -> None:
    events = make_log([0, 0, 1, 1])
    failure = Replay().feed(events[:1] + events[2:])
    assert failure is not None
    assert (failure.position, failure.check) == (2, "position")
    failure = Replay().feed(events[:2] + events[1:])
    assert failure is not None
    assert (failure.position, failure.check) == (3, "position")


def test_a_broken_chain_and_a_second_first_version_are_caught() -> None:
    events = make_log([0, 0, 0])
    tampered = copy.deepcopy(events)
    tampered[2]["prev_hash"] = events[0]["leaf_hash"]
    failure = Replay().feed(tampered)
    assert failure is not None
    assert (failure.position, failure.check) == (3, "leaf")  # prev_hash is committed
    forked = make_log([0, 1])
    forked[1]["claim_id"] = forked[0]["claim_id"]  # claim 0 gets a second version 1
    fields = {n: forked[1][n] for n in hashing.LEAF_FIELDS}
    forked[1]["leaf_hash"] = hashing.leaf_hash(hashing.leaf_input(**fields)).hex()
    failure = Replay().feed(forked)
    assert failure is not None
    assert (failure.position, failure.check) == (2, "version")


def test_time_going_back_is_caught() -> None:
    events = make_log([0, 1, 2])
    events[2]["recorded_at"] = "2014-09-15T07:59:59.000000Z"
    fields = {n: events[2][n] for n in hashing.LEAF_FIELDS}
    events[2]["leaf_hash"] = hashing.leaf_hash(hashing.leaf_input(**fields)).hex()
    failure = Replay().feed(events)
    assert failure is not None
    assert (failure.position, failure.check) == (3, "recorded_at")


def test_a_redacted_payload_needs_its_redaction_record() -> None:
    events = make_log([0, 0])
    events[1]["data"] = None
    failure = Replay().feed(events)
    assert failure is not None
    assert (failure.position, failure.check) == (2, "payload")
    events[1]["redaction"] = {"actor": "legal", "reason": "Court order.", "redacted_at": "x"}
    replay = Replay()
    assert replay.feed(events) is None
    assert (replay.events, replay.payloads, replay.redacted) == (2, 1, 1)


def test_non_ascii_actors_and_raw_line_separators_replay() -> None:
    events = make_log([0, 1], texts=["a\u2028b", "c\u2029d"], actor="desk é 中文")
    assert Replay().feed(json.loads(json.dumps(events, ensure_ascii=False))) is None


def test_a_malformed_saved_state_is_refused() -> None:
    with pytest.raises(ValueError, match="not a saved replay"):
        ReplayState.from_json({"size": 3, "edge": [], "heads": {}, "last_recorded": "",
                               "redacted": 0})
    with pytest.raises(ValueError, match="not a saved replay"):
        ReplayState.from_json({"size": 1})
