"""Events read from a store decode their payload on first use (``StoredPayload``), and
nothing that uses ``RecordedEvent.data`` can tell: same dict, same JSON, same equality."""

from __future__ import annotations

import gc
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import hashing
from ledger.envelope import RecordedEvent, StoredPayload, stored_json
from ledger.store.rows import collector_paused, event_from_row

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(-1e15, 1e15) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_payloads = st.dictionaries(st.text(), _json_values, max_size=6)


def _row(data: str | None, metadata: str = "{}", redaction: tuple[Any, ...] = (None,) * 3
         ) -> tuple[Any, ...]:
    return (
        "0190a000-0000-7000-8000-000000000001", "0190a000-0000-7000-8000-000000000002", 1, 1,
        "ClaimRecorded", 1, data, "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z",
        "desk", metadata, "a" * 64, None, "b" * 64, *redaction,
    )


@settings(deadline=None)
@given(_payloads)
def test_a_stored_payload_reads_as_the_decoded_dict(payload: dict[str, Any]) -> None:
    text = hashing.canonical_json(payload).decode("utf-8")
    event = event_from_row(_row(text))
    assert type(event.data) is dict
    assert event.data == json.loads(text)
    assert event.data is event.data  # decoded once
    eager = event._replace(data=json.loads(text))
    assert event == eager
    assert eager == event
    assert event.to_json() == eager.to_json()
    assert json.dumps(event.to_json()) == json.dumps(eager.to_json())
    assert hashing.payload_sha256(event.data) == hashing.payload_sha256(eager.data)
    assert repr(event) == repr(eager)
    assert pickle.loads(pickle.dumps(event)) == event


def _outcome(decode: Callable[[str], Any], text: str) -> tuple[str, Any]:
    try:
        return "value", decode(text)
    except ValueError as exc:
        return "error", str(exc)


@settings(deadline=None)
@given(st.text(max_size=40) | _json_values.map(json.dumps))
def test_stored_json_answers_as_json_loads(text: str) -> None:
    assert _outcome(stored_json, text) == _outcome(json.loads, text)


def test_white_space_and_trailing_text_go_to_json_loads() -> None:
    assert stored_json(' {"a": 1} ') == {"a": 1}
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        stored_json('{"a":1}x')


def test_the_raw_item_is_a_mapping_equal_to_the_payload() -> None:
    event = event_from_row(_row('{"b":[1,2],"a":"x"}', metadata='{"k":"v"}'))
    raw = event[6]
    assert isinstance(raw, StoredPayload)
    payload = {"a": "x", "b": [1, 2]}
    assert raw == payload
    assert payload == raw
    assert raw == StoredPayload('{"a":"x","b":[1,2]}')
    assert dict(raw) == payload
    assert list(raw) == ["b", "a"]
    assert len(raw) == 2
    assert raw["a"] == "x"
    assert raw.get("c") is None
    assert "b" in raw
    assert event.metadata == {"k": "v"}
    assert event._asdict()["data"] == {"a": "x", "b": [1, 2]}


def test_a_redacted_event_has_no_payload_and_says_who() -> None:
    event = event_from_row(_row(None, redaction=("editor", "privacy", "2026-01-02T00:00:00Z")))
    assert event.data is None
    assert event.redaction == {
        "actor": "editor", "reason": "privacy", "redacted_at": "2026-01-02T00:00:00Z"
    }
    built = event._replace(metadata={}, redaction=dict(event.redaction or {}))
    assert isinstance(built, RecordedEvent)
    assert built == event


def test_the_collector_is_paused_for_a_page_and_resumed_as_it_was() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed page")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left off, as it was
    finally:
        gc.enable()
