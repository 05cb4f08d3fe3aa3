"""Canonical hashing of events: RFC 8785 JSON, payload hashes, RFC 9162 leaves.

The leaf form is part of the public contract (docs/events.md): auditors recompute it
from that text alone, so it must never change.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import rfc8785

#: The eleven committed fields of the leaf input, in no particular order (RFC 8785 sorts).
LEAF_FIELDS = (
    "position",
    "id",
    "claim_id",
    "version",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "actor",
    "payload_sha256",
    "prev_hash",
)


_SAFE_INT = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_encode: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":")
).encode


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
if _c_make_encoder is not None:
    # one C encoder for every call: JSONEncoder.encode builds a new one each time, which
    # is half the cost of encoding a small payload (no circular check: payloads are trees)
    _chunks = _c_make_encoder(
        None, _refuse, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def _encode(value: Any) -> str:
        return "".join(_chunks(value, 0))


def _simple(value: Any) -> bool:
    """Whether the stdlib encoder's output is already RFC 8785 for this value.

    True for strings without lone surrogates, safe integers, booleans, null, and
    arrays and objects of those whose keys are ASCII (so code-point order equals
    RFC 8785's UTF-16 order). Floats always take the reference path.
    """
    kind = type(value)
    if kind is str:
        return value.isascii() or _SURROGATE.search(value) is None
    # loops rather than all(...) over generators: this runs for every appended payload
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) is str:
                if not item.isascii() and _SURROGATE.search(item) is not None:
                    return False
            elif not _simple(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_simple(item) for item in value)
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    return value is None or kind is bool


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 form of a JSON value.

    The ``rfc8785`` package is the reference; values it is known to agree with the
    stdlib encoder on (see ``_simple``, checked by property tests) skip its pure-Python
    serialiser, which otherwise dominates the cost of an append.
    """
    if _simple(value):
        return _encode(value).encode("utf-8")
    return bytes(rfc8785.dumps(value))


def payload_sha256(data: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical form of an event's ``data``."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


#: every printable ASCII character but the quote and the backslash
_PLAIN = bytes(c for c in range(0x20, 0x7F) if c not in b'"\\')
#: the quotes of the leaf form itself, with a previous hash and without
_LEAF_QUOTES = (b'"' * 38, b'"' * 36)


def leaf_bytes(
    position: int,
    id: str,
    claim_id: str,
    version: int,
    type: str,
    schema_version: int,
    occurred_at: str,
    recorded_at: str,
    actor: str,
    payload_sha256: str,
    prev_hash: str | None,
) -> bytes:
    """The canonical bytes a leaf commits to (times already in ``...ffffffZ`` form), the
    fields in ``LEAF_FIELDS`` order; each append and replayed event calls it by position,
    since keywords cost more than the rest of it."""
    # RFC 8785 key order; plain printable ASCII values need no escaping. Built first and
    # checked after: deleting every plain character leaves only the form's own quotes,
    # unless a value holds a quote, a backslash or a control character.
    prev = "null" if prev_hash is None else f'"{prev_hash}"'
    text = (
        f'{{"actor":"{actor}","claim_id":"{claim_id}","id":"{id}",'
        f'"occurred_at":"{occurred_at}","payload_sha256":"{payload_sha256}",'
        f'"position":{position},"prev_hash":{prev},"recorded_at":"{recorded_at}",'
        f'"schema_version":{schema_version},"type":"{type}","version":{version}}}'
    )
    if (
        text.isascii()
        and 0 <= position <= _SAFE_INT
        and 0 <= version <= _SAFE_INT
        and 0 <= schema_version <= _SAFE_INT
    ):
        data = text.encode("ascii")
        if data.translate(None, _PLAIN) == _LEAF_QUOTES[prev_hash is None]:
            return data
    return canonical_json(
        {
            "position": position,
            "id": id,
            "claim_id": claim_id,
            "version": version,
            "type": type,
            "schema_version": schema_version,
            "occurred_at": occurred_at,
            "recorded_at": recorded_at,
            "actor": actor,
            "payload_sha256": payload_sha256,
            "prev_hash": prev_hash,
        }
    )


#: ``leaf_bytes`` by keyword, as verifiers and tests call it
leaf_input = leaf_bytes


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || leaf_input)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()
