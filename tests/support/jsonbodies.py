"""Generators of JSON texts the strict parser must refuse, one strategy per class.

Each class starts from a valid body (so only the hostile part makes it invalid) and
hides its damage anywhere in it: duplicate keys at any depth, nesting past the limit,
integers past 64 bits or with thousands of digits, floats that overflow, NaN and
Infinity, a byte order mark, UTF-16 or UTF-32, and bytes that are not UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from ledger.jsontext import MAX_DEPTH

#: valid bodies of POST /v1/claims/{id}/… (and of POST /v1/claims): the damage goes into them
NOTE = {"text": "Check the Persian transcript."}
CORRECTION_CHANGES = {"note": "Reworded."}

keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


def _objects(value: Any) -> list[dict[str, Any]]:
    """Every object inside ``value`` (itself included)."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


@st.composite
def duplicate_keys(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """``body`` with one of its objects holding some key twice (either value first)."""
    target = draw(st.sampled_from(_objects(body)))
    key = draw(st.sampled_from(sorted(target))) if target and draw(st.booleans()) else draw(keys)
    marker = "\u0000dup\u0000"
    target_id = id(target)

    def encode(node: Any) -> str:
        if isinstance(node, dict):
            items = [f"{json.dumps(k)}:{encode(v)}" for k, v in node.items()]
            if id(node) == target_id:
                extra = f"{json.dumps(key)}:{json.dumps(marker)}"
                items.insert(draw(st.integers(0, len(items))), extra)
                if key not in node:  # twice in any case
                    items.insert(draw(st.integers(0, len(items))), extra)
            return "{" + ",".join(items) + "}"
        if isinstance(node, list):
            return "[" + ",".join(encode(v) for v in node) + "]"
        return json.dumps(node)

    return encode(body).encode()


@st.composite
def too_deep(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """``body`` with a value nested past the limit (from one level past it to 100,000)."""
    depth = draw(st.one_of(st.integers(MAX_DEPTH, MAX_DEPTH + 40),
                           st.sampled_from([999, 1_000, 5_000, 100_000])))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('[{"b":', "}]")]))
    inner = opener * depth + "1" + closer * depth
    key = draw(st.sampled_from([*sorted(body), "extra"]))
    return json.dumps({**body, key: "\u0000"}).replace('"\\u0000"', inner).encode()


huge_integers = st.one_of(
    st.integers(2**64, 2**200).map(str),
    st.integers(-(2**200), -(2**63) - 1).map(str),
    st.integers(21, 6_000).map(lambda n: "9" * n),
    st.integers(21, 6_000).map(lambda n: "-1" + "0" * n),
)
overflowing_floats = st.sampled_from(["1e400", "-1e400", "1" * 400 + ".5", "2e308"])
constants = st.sampled_from(["NaN", "Infinity", "-Infinity"])


@st.composite
def bad_numbers(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """``body`` with a number no 64-bit integer or double holds, in a new or existing field."""
    number = draw(st.one_of(huge_integers, overflowing_floats, constants))
    key = draw(st.sampled_from([*sorted(body), "extra"]))
    return json.dumps({**body, key: "\u0000"}).replace('"\\u0000"', number).encode()


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf-8 with BOM": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-16-be": lambda text: text.encode("utf-16-be"),
    "utf-32": lambda text: text.encode("utf-32"),
    "utf-32-le": lambda text: text.encode("utf-32-le"),
    "latin-1": lambda text: text.replace('": "', '": "caf\u00e9 ', 1).encode("latin-1"),
}


@st.composite
def bad_encodings(draw: st.DrawFn, body: dict[str, Any]) -> bytes:
    """``body`` in an encoding other than UTF-8, or with a BOM, or with a stray bad byte."""
    text = json.dumps(body, ensure_ascii=False)
    how = draw(st.sampled_from([*ENCODINGS, "bad byte"]))
    if how == "bad byte":
        raw = text.encode()
        at = draw(st.integers(1, len(raw) - 1))
        return raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80"])) + raw[at:]
    return ENCODINGS[how](text)


CLASSES = {
    "duplicate keys": duplicate_keys,
    "nested too deep": too_deep,
    "numbers past 64 bits": bad_numbers,
    "not UTF-8": bad_encodings,
}


@st.composite
def hostile_bodies(draw: st.DrawFn, body: dict[str, Any]) -> tuple[str, bytes]:
    """``(class, bytes)``: ``body`` damaged in one of the ``CLASSES``."""
    name = draw(st.sampled_from(sorted(CLASSES)))
    return name, draw(CLASSES[name](body))


#: text that must never reach a header: CR, LF and other control characters
header_breakers = st.lists(
    st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x0b", "\x7f", "\u0085", "\u2028",
                     "Set-Cookie: x=1", "Location: //evil.example", "/desk/", "a"]),
    min_size=1, max_size=6,
).map("".join).filter(lambda s: not s.isprintable())

#: positions no signed 64-bit column holds
huge_positions = st.one_of(st.integers(2**63, 2**70), st.integers(20, 60).map(lambda n: "9" * n))
