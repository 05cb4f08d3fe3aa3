"""Hypothesis strategies for hostile import lines and event payloads.

Random JSON, and structure-aware mutations of the example data set's valid lines: a field
dropped, retyped, oversized or laced with control characters; an unknown field; lines
truncated, with broken UTF-8 or stray bytes; claim, event and related-claim references
that are unknown, forward (a cycle can only be written as one) or reused.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

from hypothesis import strategies as st

from ledger.events import EVENT_TYPES
from tests.support.paths import EXAMPLE

#: the example data set's lines: valid, all eight event types, with every kind of reference
SEED_LINES: list[dict[str, Any]] = [
    json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line
]
#: one valid payload per event type (the first line of that type; the data set has no
#: retraction nor link, and its corrections name their target by reference)
PAYLOADS: dict[str, dict[str, Any]] = {
    "ClaimRetracted": {"by": {"name": "Fars News Agency"}, "note": "The agency withdrew it."},
    # nor a link: one to the Sherman claim, as an editor would make it
    "ClaimLinked": {"target_claim_id": "01a21b98-2a8d-796e-8b54-f88b67019bd7",
                    "kind": "restates", "note": "Same account, other words."},
}
for _line in SEED_LINES:
    PAYLOADS.setdefault(_line["type"], _line["data"])
PAYLOADS["EntryCorrected"] = {
    **PAYLOADS["EntryCorrected"], "target_event_id": "01a21b98-2a8d-796e-8b54-f88b67019bd7"
}
assert set(PAYLOADS) == set(EVENT_TYPES)

_NASTY_CHARS = "\x00\x01\x08\x0b\x1b\x7f\x85\x9f\u2028\u202e\ufeff\ud800\udfff\n\r\t"
nasty_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(_NASTY_CHARS + "ab "), max_size=12),
    st.builds(lambda n, c: "x" * n + c, st.integers(1, 20_000), st.sampled_from(["", "é", "\n"])),
    st.sampled_from(["", " ", "null", "2014-02-30T00:00:00Z", "javascript:alert(1)",
                     "not-a-uuid", "../../etc/passwd", "' OR 1=1 --", "{p0}", "*"]),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), nasty_text,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list indexes), root excluded."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else []
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated(draw: st.DrawFn, value: Any, max_mutations: int = 3) -> Any:
    """``value`` with 1..``max_mutations`` fields dropped, retyped, oversized or corrupted."""
    value = copy.deepcopy(value)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(value)
        if not paths or not isinstance(value, dict | list):
            return draw(json_values)
        path = draw(st.sampled_from(paths))
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        key, old = path[-1], parent[path[-1]]
        how = draw(st.sampled_from(["drop", "retype", "oversize", "control", "add", "nest"]))
        if how == "drop":
            del parent[key]
        elif how == "retype":
            parent[key] = draw(json_values)
        elif how == "oversize":
            parent[key] = draw(st.sampled_from(["x", "é", "\n"])) * draw(st.integers(2, 12_000))
        elif how == "control":
            at = draw(st.integers(0, len(old))) if isinstance(old, str) else 0
            text = old if isinstance(old, str) else str(old)
            parent[key] = text[:at] + draw(st.sampled_from(_NASTY_CHARS)) + text[at:]
        elif how == "add" and isinstance(parent, dict):
            parent[draw(nasty_text)] = draw(json_values)
        else:
            depth = draw(st.integers(1, 200))
            parent[key] = json.loads("[" * depth + json.dumps(old) + "]" * depth)
    return value


def payloads() -> st.SearchStrategy[tuple[str, Any]]:
    """(event type, payload): valid, mutated, random JSON, or under a wrong type name."""
    types = st.sampled_from(sorted(EVENT_TYPES))
    return st.one_of(
        types.map(lambda t: (t, PAYLOADS[t])),
        types.flatmap(lambda t: st.tuples(st.just(t), mutated(PAYLOADS[t]))),
        st.tuples(types, json_values),
        st.tuples(st.one_of(nasty_text, types), st.sampled_from(list(PAYLOADS.values()))),
    )


@st.composite
def ref_mutated(draw: st.DrawFn, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``lines`` with one reference broken: unknown, forward, self, reused or a stray id."""
    lines = copy.deepcopy(lines)
    index = draw(st.integers(0, len(lines) - 1))
    line = lines[index]
    later = [x for x in lines[index + 1 :] if "claim_ref" in x]
    how = draw(st.sampled_from(
        ["unknown claim", "forward claim", "self related", "forward target", "self target",
         "reuse event", "unknown id", "both", "neither"]
    ))
    if how == "unknown claim":
        line["claim_ref"] = draw(nasty_text)
    elif how == "forward claim" and later:
        line["claim_ref"] = later[-1]["claim_ref"]
    elif how == "self related":
        line["related_claim_ref"] = line.get("claim_ref", "x")
    elif how == "forward target" and later:
        line["target_ref"] = later[-1].get("event_ref", "x")
    elif how == "self target":
        line["target_ref"] = line["event_ref"] = line.get("event_ref", "x")
    elif how == "reuse event" and index > 0:
        line["event_ref"] = lines[0].get("event_ref", "x")
    elif how == "unknown id":
        line.pop("claim_ref", None)
        line["claim_id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    elif how == "both":
        line["claim_id"] = str(uuid.uuid4())
    else:
        line.pop("claim_ref", None)
    return lines


def _encode(draw: st.DrawFn, line: Any) -> bytes:
    """A line as UTF-8 JSON (surrogates kept as the bytes Python would write), maybe damaged."""
    text = json.dumps(line, ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(
        ["keep"] * 6 + ["truncate", "bad utf-8", "stray", "crlf", "huge number"]
    ))
    if how == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "bad utf-8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88"])) \
            + raw[at:]
    elif how == "stray":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    elif how == "crlf":
        raw += b"\r"
    elif how == "huge number":  # Python refuses to convert integers over 4,300 digits
        digits = b"9" * draw(st.integers(4000, 5000))
        raw = raw.replace(b'": "', b'": ' + digits + b', "x": "', 1)
    return raw


@st.composite
def ndjson_files(draw: st.DrawFn) -> bytes:
    """An NDJSON import body: a slice of the example lines, mutated, or random bytes."""
    kind = draw(st.sampled_from(["valid", "fields", "refs", "random lines", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "random lines":
        lines: list[Any] = draw(st.lists(json_values, min_size=1, max_size=4))
    else:
        lines = SEED_LINES[: draw(st.integers(1, len(SEED_LINES)))]  # earlier refs resolve
        if kind == "fields":
            index = draw(st.integers(0, len(lines) - 1))
            lines = [*lines[:index], draw(mutated(lines[index])), *lines[index + 1 :]]
        elif kind == "refs":
            lines = draw(ref_mutated(lines))
    encoded = [_encode(draw, line) if kind != "valid" else json.dumps(line).encode()
               for line in lines]
    blank = draw(st.sampled_from([b"\n", b"\n\n", b"\n \n"]))
    return blank.join(encoded) + draw(st.sampled_from([b"", b"\n"]))
