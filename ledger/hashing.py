"""Canonical hashing of events: RFC 8785 JSON, payload hashes, RFC 9162 leaves.

The leaf form is part of the public contract (docs/events.md): auditors recompute it
from that text alone, so it must never change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
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


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 (JCS) canonical UTF-8 form of a JSON value."""
    return bytes(rfc8785.dumps(value))


def payload_sha256(data: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical form of an event's ``data``."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def leaf_input(
    *,
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
    """The canonical bytes a leaf commits to (times already in ``...ffffffZ`` form)."""
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


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || leaf_input)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()
