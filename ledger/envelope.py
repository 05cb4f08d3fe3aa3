"""The event envelope: what a client proposes (``NewEvent``) and what the log holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import hashing


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event proposed for appending; ``data`` is already validated.

    ``id`` may be chosen by the caller (an import that refers to its own events);
    otherwise the store assigns a new time-ordered UUID (version 7).
    """

    claim_id: str
    type: str
    data: Mapping[str, Any]
    occurred_at: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


class RecordedEvent(NamedTuple):
    """An event as committed to the log, with its position and hashes.

    ``data`` is None only when the payload was redacted; ``redaction`` then says
    who redacted it, when and why. A named tuple rather than a frozen dataclass: the
    store builds one per event appended or read, and a frozen dataclass costs six
    times as much to construct.
    """

    id: str
    claim_id: str
    version: int
    position: int
    type: str
    schema_version: int
    data: Mapping[str, Any] | None
    occurred_at: str
    recorded_at: str
    actor: str
    metadata: Mapping[str, Any]
    payload_sha256: str
    prev_hash: str | None
    leaf_hash: str
    redaction: Mapping[str, Any] | None = None

    def leaf_input(self) -> bytes:
        """The canonical bytes this event's leaf commits to."""
        return hashing.leaf_input(
            position=self.position,
            id=self.id,
            claim_id=self.claim_id,
            version=self.version,
            type=self.type,
            schema_version=self.schema_version,
            occurred_at=self.occurred_at,
            recorded_at=self.recorded_at,
            actor=self.actor,
            payload_sha256=self.payload_sha256,
            prev_hash=self.prev_hash,
        )

    def to_json(self) -> dict[str, Any]:
        """The envelope as JSON, hashes in lowercase hex."""
        out: dict[str, Any] = {
            "id": self.id,
            "claim_id": self.claim_id,
            "version": self.version,
            "position": self.position,
            "type": self.type,
            "schema_version": self.schema_version,
            "data": self.data,
            "occurred_at": self.occurred_at,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "metadata": dict(self.metadata),
            "payload_sha256": self.payload_sha256,
            "prev_hash": self.prev_hash,
            "leaf_hash": self.leaf_hash,
        }
        if self.redaction is not None:
            out["redaction"] = dict(self.redaction)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RecordedEvent:
        """Rebuild an envelope from ``to_json`` output (as exported)."""
        return cls(
            id=obj["id"],
            claim_id=obj["claim_id"],
            version=int(obj["version"]),
            position=int(obj["position"]),
            type=obj["type"],
            schema_version=int(obj["schema_version"]),
            data=obj["data"],
            occurred_at=obj["occurred_at"],
            recorded_at=obj["recorded_at"],
            actor=obj["actor"],
            metadata=obj.get("metadata") or {},
            payload_sha256=obj["payload_sha256"],
            prev_hash=obj["prev_hash"],
            leaf_hash=obj["leaf_hash"],
            redaction=obj.get("redaction"),
        )
