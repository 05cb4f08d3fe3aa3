"""The event envelope: what a client proposes (``NewEvent``) and what the log holds."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from json.scanner import make_scanner
from operator import itemgetter
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


#: the C scanner ``json.loads`` itself ends in (the pure-Python one where C is missing)
_scan: Callable[[str, int], tuple[Any, int]] = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def stored_json(text: str) -> Any:
    """The value of a JSON text the store wrote: ``json.loads(text)``, with less around it.

    ``json.loads`` wraps the same C scanner in three Python calls and two regular
    expressions, which cost more than parsing a 300-byte payload. Anything but a single
    compact JSON value (white space around it, an error) goes to ``json.loads``, which
    answers or raises exactly as before.
    """
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


class StoredPayload(Mapping[str, Any]):
    """A payload read from the store: its stored JSON text, decoded on first use.

    The stores put one in a ``RecordedEvent`` they read, so a page of the log costs no
    JSON decoding until someone looks at a payload (the tree, tiles, positions and
    hashes never do). ``RecordedEvent.data`` always answers the decoded ``dict``; only
    the tuple's raw item (``event[6]``, unpacking, ``_asdict``) holds this object, which
    reads like that ``dict`` and compares equal to it.
    """

    __slots__ = ("_value", "text")

    def __init__(self, text: str) -> None:
        """Wrap the stored JSON text of an object."""
        self.text = text
        self._value: dict[str, Any] | None = None

    def value(self) -> dict[str, Any]:
        """The decoded payload (decoded once, then kept)."""
        value = self._value
        if value is None:
            value = self._value = stored_json(self.text)
        return value

    def __getitem__(self, key: str) -> Any:
        """The payload's member ``key``."""
        return self.value()[key]

    def __iter__(self) -> Iterator[str]:
        """The payload's keys."""
        return iter(self.value())

    def __len__(self) -> int:
        """How many members the payload has."""
        return len(self.value())

    def __eq__(self, other: object) -> bool:
        """Equal to the same payload, stored or decoded."""
        if isinstance(other, StoredPayload):
            return self.text == other.text or self.value() == other.value()
        return self.value() == other

    __hash__ = None  # type: ignore[assignment]  # as the dict it stands for

    def __repr__(self) -> str:
        """The decoded payload's repr."""
        return repr(self.value())

    def __reduce__(self) -> tuple[type[StoredPayload], tuple[str]]:
        """Pickled as its text."""
        return StoredPayload, (self.text,)


_data_item = itemgetter(6)


def _data(event: RecordedEvent) -> Mapping[str, Any] | None:
    value = _data_item(event)
    if type(value) is StoredPayload:
        return value.value()
    return value  # type: ignore[no-any-return]


# ``data`` answers the decoded payload whether the event holds it or a StoredPayload
setattr(RecordedEvent, "data", property(_data, doc="The payload (None once redacted)."))  # noqa: B010
