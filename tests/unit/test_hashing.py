"""Canonical hashing: the fast paths agree byte for byte with the RFC 8785 reference."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import hashing

_SAFE = 2**53 - 1
#: any text, lone surrogates, quotes, backslashes and control characters included
_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
#: printable ASCII (the leaf's fast path) with, now and then, anything else
_FIELD = (
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
    | st.text(st.sampled_from('ab"\\/ \x7f\x1f'), max_size=6)  # what escaping is about
    | _TEXT
)
#: keys whose UTF-16 order (RFC 8785's) differs from their code point order
_KEYS = st.text(st.sampled_from("a\u00e9\ue000\uffff\U0001f600\U00010000"), max_size=3)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-_SAFE, _SAFE)
    | st.integers()  # beyond 2**53 the reference refuses
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT | _KEYS, inner, max_size=4),
    max_leaves=12,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception as exc:  # the reference's refusal is the expectation
        return type(exc)


@settings(max_examples=400)
@given(_JSON)
def test_canonical_json_equals_the_rfc8785_reference(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert hashing.canonical_json(value) == expected
    else:
        with pytest.raises(expected):
            hashing.canonical_json(value)


@settings(max_examples=400)
@given(
    st.fixed_dictionaries(
        {
            "position": st.integers(0, _SAFE),
            "id": _FIELD,
            "claim_id": _FIELD | st.uuids().map(str),
            "version": st.integers(0, _SAFE),
            "type": _FIELD,
            "schema_version": st.integers(0, _SAFE),
            "occurred_at": _FIELD,
            "recorded_at": _FIELD,
            "actor": _FIELD,
            "payload_sha256": _FIELD | st.binary(min_size=32, max_size=32).map(bytes.hex),
            "prev_hash": st.none() | _FIELD,
        }
    )
)
def test_the_leaf_input_equals_the_rfc8785_form_of_its_eleven_fields(
    fields: dict[str, Any],
) -> None:
    expected = _reference(fields)
    if isinstance(expected, bytes):
        assert hashing.leaf_input(**fields) == expected


_PLAIN_LEAF = {
    "position": 7, "id": "e", "claim_id": "c", "version": 2, "type": "NoteAdded",
    "schema_version": 1, "occurred_at": "2026-01-01T00:00:00.000000Z",
    "recorded_at": "2026-01-01T00:00:00.000000Z", "actor": "a", "payload_sha256": "0" * 64,
    "prev_hash": "1" * 64,
}


@pytest.mark.parametrize("name", [n for n, v in _PLAIN_LEAF.items() if isinstance(v, str)])
def test_every_ascii_character_in_a_leaf_field_gives_the_rfc8785_form(name: str) -> None:
    # the fast path's guard decides, per character, whether the text is already canonical
    for code in range(0x80):
        fields = {**_PLAIN_LEAF, name: f"x{chr(code)}y"}
        assert hashing.leaf_input(**fields) == _reference(fields), hex(code)
