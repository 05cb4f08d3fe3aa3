"""In-memory builders of recorded events for unit tests (no database).

``ClaimBuilder`` appends events to one claim's stream the way the store would seal
them: versions 1, 2, 3 …, a ``prev_hash`` chain and real leaf hashes, but with
deterministic ids and times so tests (and hypothesis) can reproduce them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from ledger import hashing
from ledger.envelope import RecordedEvent
from ledger.events import EVENT_TYPES, validate_payload
from ledger.timeutil import format_time, normalize_time, parse_time

ACTOR = "desk@example.org"
MONDAY = "2014-09-15T08:00:00.000000Z"
TUESDAY = "2014-09-16T08:00:00.000000Z"
WEDNESDAY = "2014-09-17T08:00:00.000000Z"


def event_id(claim_number: int, version: int) -> str:
    """A deterministic event id for a claim number and a version."""
    return str(uuid.UUID(int=(1 << 127) | (claim_number << 64) | version))


def claim_id(claim_number: int) -> str:
    """A deterministic claim id."""
    return str(uuid.UUID(int=(claim_number << 64) | 0xC1A1))


def shift(time: str, **delta: float) -> str:
    """A canonical time moved by a ``timedelta``."""
    return format_time(parse_time(time) + timedelta(**delta))


# --- payloads -------------------------------------------------------------------


def agent(name: str, same_as: str | None = None) -> dict[str, Any]:
    """An agent payload."""
    return {"name": name} if same_as is None else {"name": name, "same_as": same_as}


def appearance(outlet: str, **extra: Any) -> dict[str, Any]:
    """An appearance payload."""
    return {"outlet": outlet, **extra}


def recorded(
    statement: str = "Kerry personally asked Zarif for cooperation against ISIL.",
    claimant: str = "Ali Khamenei",
    outlet: str = "Fars News Agency",
    **extra: Any,
) -> dict[str, Any]:
    """A ``ClaimRecorded`` payload."""
    return {
        "statement": statement,
        "claimant": agent(claimant),
        "appearance": appearance(outlet),
        **extra,
    }


def by(name: str, **extra: Any) -> dict[str, Any]:
    """A ``ClaimCorroborated`` / ``ClaimDenied`` / ``ClaimRetracted`` payload."""
    return {"by": agent(name), **extra}


def verdict(
    value: str, explanation: str = "Rated by the desk.", scale: str = "standard"
) -> dict[str, Any]:
    """A ``VerdictIssued`` payload."""
    return {"scale": scale, "value": value, "explanation": explanation}


def void(target: RecordedEvent | str, reason: str = "Logged in error.") -> dict[str, Any]:
    """An ``EntryCorrected`` payload of kind void."""
    return {"target_event_id": _id(target), "kind": "void", "reason": reason}


def correction(
    target: RecordedEvent | str, changes: Mapping[str, Any], reason: str = "Corrected."
) -> dict[str, Any]:
    """An ``EntryCorrected`` payload of kind correction."""
    return {
        "target_event_id": _id(target),
        "kind": "correction",
        "changes": dict(changes),
        "reason": reason,
    }


def clarification(target: RecordedEvent | str, reason: str = "Clarified.") -> dict[str, Any]:
    """An ``EntryCorrected`` payload of kind clarification."""
    return {"target_event_id": _id(target), "kind": "clarification", "reason": reason}


def note(text: str = "Internal note.") -> dict[str, Any]:
    """A ``NoteAdded`` payload."""
    return {"text": text}


def link(target_claim: str, kind: str = "same-as", **extra: Any) -> dict[str, Any]:
    """A ``ClaimLinked`` payload naming another claim."""
    return {"target_claim_id": target_claim, "kind": kind, **extra}


def _id(target: RecordedEvent | str) -> str:
    return target if isinstance(target, str) else target.id


# --- events ---------------------------------------------------------------------


def seal(
    *,
    claim: str,
    version: int,
    position: int,
    type: str,
    data: Mapping[str, Any],
    occurred_at: str,
    recorded_at: str,
    prev_hash: str | None,
    id: str | None = None,
    actor: str = ACTOR,
) -> RecordedEvent:
    """A ``RecordedEvent`` with its payload hash and leaf hash computed as the store does."""
    schema_version = EVENT_TYPES[type].schema_version
    event = id or event_id(0, version)
    payload_sha = hashing.payload_sha256(data)
    leaf = hashing.leaf_input(
        position=position,
        id=event,
        claim_id=claim,
        version=version,
        type=type,
        schema_version=schema_version,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        actor=actor,
        payload_sha256=payload_sha,
        prev_hash=prev_hash,
    )
    return RecordedEvent(
        id=event,
        claim_id=claim,
        version=version,
        position=position,
        type=type,
        schema_version=schema_version,
        data=dict(data),
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        actor=actor,
        metadata={},
        payload_sha256=payload_sha,
        prev_hash=prev_hash,
        leaf_hash=hashing.leaf_hash(leaf).hex(),
    )


class ClaimBuilder:
    """Builds one claim's stream in memory.

    Each ``add`` records one event one minute after the previous one (unless
    ``recorded_at`` is given); ``occurred_at`` defaults to ``recorded_at`` as in the
    store. Payloads are validated with ``validate_payload`` unless ``validate=False``.
    """

    def __init__(
        self,
        number: int = 1,
        *,
        start: str = MONDAY,
        validate: bool = True,
        first_position: int = 1,
    ) -> None:
        self.number = number
        self.claim_id = claim_id(number)
        self.validate = validate
        self.events: list[RecordedEvent] = []
        self._clock = parse_time(start) - timedelta(minutes=1)
        self._position = first_position - 1

    @classmethod
    def continuing(
        cls, events: Sequence[RecordedEvent], number: int = 1, *, validate: bool = False
    ) -> ClaimBuilder:
        """A builder that appends after ``events`` (one claim's stream, in version order)."""
        builder = cls(number, start=events[-1].recorded_at, validate=validate)
        builder.claim_id = events[0].claim_id
        builder.events = list(events)
        builder._position = events[-1].position
        return builder

    def add(
        self,
        type: str,
        data: Mapping[str, Any],
        *,
        occurred_at: str | None = None,
        recorded_at: str | None = None,
    ) -> RecordedEvent:
        """Append one event and return it."""
        payload = validate_payload(type, data) if self.validate else dict(data)
        if recorded_at is None:
            self._clock += timedelta(minutes=1)
            recorded = format_time(self._clock)
        else:
            recorded = normalize_time(recorded_at)
            self._clock = max(self._clock, parse_time(recorded))
        self._position += 1
        version = len(self.events) + 1
        event = seal(
            claim=self.claim_id,
            version=version,
            position=self._position,
            type=type,
            data=payload,
            occurred_at=normalize_time(occurred_at) if occurred_at else recorded,
            recorded_at=recorded,
            prev_hash=self.events[-1].leaf_hash if self.events else None,
            id=event_id(self.number, version),
        )
        self.events.append(event)
        return event

    # convenience, one per event type
    def record(self, data: Mapping[str, Any] | None = None, **kw: Any) -> RecordedEvent:
        """Append a ``ClaimRecorded``."""
        return self.add("ClaimRecorded", data or recorded(), **kw)

    def appear(self, outlet: str = "The New York Times", **kw: Any) -> RecordedEvent:
        """Append an ``AppearanceAdded``."""
        published = kw.pop("published_at", None)
        extra = {} if published is None else {"published_at": published}
        return self.add("AppearanceAdded", {"appearance": appearance(outlet, **extra)}, **kw)

    def corroborate(self, name: str = "The New York Times", **kw: Any) -> RecordedEvent:
        """Append a ``ClaimCorroborated``."""
        return self.add("ClaimCorroborated", by(name), **kw)

    def deny(self, name: str = "U.S. Department of State", **kw: Any) -> RecordedEvent:
        """Append a ``ClaimDenied``."""
        return self.add("ClaimDenied", by(name), **kw)

    def retract(self, name: str = "Fars News Agency", **kw: Any) -> RecordedEvent:
        """Append a ``ClaimRetracted``."""
        return self.add("ClaimRetracted", by(name), **kw)

    def rate(self, value: str, **kw: Any) -> RecordedEvent:
        """Append a ``VerdictIssued`` on the standard scale."""
        return self.add("VerdictIssued", verdict(value), **kw)

    def void(self, target: RecordedEvent | str, **kw: Any) -> RecordedEvent:
        """Append an ``EntryCorrected`` that voids ``target``."""
        return self.add("EntryCorrected", void(target), **kw)

    def correct(
        self, target: RecordedEvent | str, changes: Mapping[str, Any], **kw: Any
    ) -> RecordedEvent:
        """Append an ``EntryCorrected`` that corrects ``target``."""
        return self.add("EntryCorrected", correction(target, changes), **kw)

    def clarify(
        self, target: RecordedEvent | str, reason: str = "Clarified.", **kw: Any
    ) -> RecordedEvent:
        """Append an ``EntryCorrected`` that clarifies ``target``."""
        return self.add("EntryCorrected", clarification(target, reason), **kw)

    def note(self, text: str = "Internal note.", **kw: Any) -> RecordedEvent:
        """Append a ``NoteAdded``."""
        return self.add("NoteAdded", note(text), **kw)
