"""The strict JSON parser: every value ``json`` writes within the limits reads back the
same, and each refused class is refused with a reason, never another exception."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import jsontext
from ledger.jsontext import MAX_DEPTH, JSONSyntaxError, JSONTextError
from tests.support.jsonbodies import NOTE, hostile_bodies

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner,
                                                                         max_size=4)),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(values, st.booleans())
def test_every_json_value_within_the_limits_reads_back_the_same(value: Any, ascii_: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_)
    if "\x00" in text:  # a raw NUL is never JSON; json.dumps writes it as \u0000
        return
    assert jsontext.loads(text) == value
    assert jsontext.loads(text.encode("utf-8", "surrogatepass")) == json.loads(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_bodies(NOTE))
def test_every_generated_hostile_body_is_refused_with_a_reason(case: tuple[str, bytes]) -> None:
    _, raw = case
    with pytest.raises(JSONTextError) as refused:
        jsontext.loads(raw)
    assert str(refused.value)


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"a": 1, "a": 2}', 'the key "a" appears twice'),
    (b'{"x": {"b": [], "b": {}}}', 'the key "b" appears twice'),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper than 64"),
    (b'{"c": ' * 100_000 + b"1" + b"}" * 100_000, "nested deeper than 64"),
    (b"18446744073709551616", "outside the 64-bit range"),
    (b"-9223372036854775809", "outside the 64-bit range"),
    (b"9" * 5_000, "a number of 5000 characters"),
    (b"1e400", "too large for a double"),
    (b"[NaN]", "NaN"),
    (b"\xef\xbb\xbf{}", "byte order mark"),
    ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
    ('{"a": 1}'.encode("utf-16-le"), "NUL character"),
    ('{"a": 1}'.encode("utf-32-be"), "NUL character"),
    (b'{"a": "caf\xe9"}', "not UTF-8 (byte 11)"),
], ids=["duplicate", "nested duplicate", "65 deep", "100,000 deep", "2^64", "-2^63-1",
        "5,000 digits", "1e400", "NaN", "BOM", "UTF-16", "UTF-16LE", "UTF-32BE", "latin-1"])
def test_each_refused_class_names_its_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(JSONTextError, match=re.escape(reason)):
        jsontext.loads(raw)


def test_the_limits_themselves_are_accepted() -> None:
    deepest = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert depth(jsontext.loads(deepest)) == MAX_DEPTH
    assert jsontext.loads(str(2**64 - 1)) == 2**64 - 1
    assert jsontext.loads(str(-(2**63))) == -(2**63)
    assert jsontext.loads('{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}')["b"][1] == {"a": 3}


def test_syntax_errors_say_where() -> None:
    with pytest.raises(JSONSyntaxError, match=r"line 1, column 9"):
        jsontext.loads('{"a": 1,}')
