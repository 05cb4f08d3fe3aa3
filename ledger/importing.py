"""NDJSON import: the ``/v1/imports`` line format turned into events for one append.

A line is ``{claim_ref?, claim_id?, event_ref?, target_ref?, related_claim_ref?, type,
data, occurred_at?}``. ``claim_ref`` names a claim created earlier in the same file,
``event_ref`` names the line's event so a later ``EntryCorrected`` can point at it with
``target_ref``, and ``related_claim_ref`` stands in for ``data.related_claim_id`` (a
link's ``data.target_claim_id``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from . import jsontext
from .envelope import NewEvent
from .errors import ClaimNotFound, MalformedLine, ValidationFailed
from .events import EVENT_TYPES, validate_payload
from .fields import Text, Timestamp, UUIDText
from .scales import DEFAULT_SCALES, Scales

MAX_ERRORS = 50


class ImportLineSchema(Schema):
    """One line of an NDJSON import."""

    class Meta:
        unknown = RAISE

    claim_ref = Text(200)
    claim_id = UUIDText()
    event_ref = Text(200)
    target_ref = Text(200)
    related_claim_ref = Text(200)
    type = fields.String(required=True, validate=validate.OneOf(list(EVENT_TYPES)))
    data = fields.Dict(required=True)
    occurred_at = Timestamp()


@dataclass
class ImportPlan:
    """The events an import will append, and the claim id behind each ``claim_ref``."""

    events: list[NewEvent] = field(default_factory=list)
    claims: dict[str, str] = field(default_factory=dict)


class _Errors:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, line: int, name: str, message: str) -> None:
        key = f"lines.{line}" + (f".{name}" if name else "")
        self.errors.setdefault(key, []).append(message)

    def merge(self, line: int, errors: Mapping[str, Any]) -> None:
        for key, messages in errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                self.add(line, key, str(message))

    def __len__(self) -> int:
        return len(self.errors)


def plan_import(
    lines: Iterable[str | bytes],
    *,
    scales: Scales = DEFAULT_SCALES,
    metadata: Mapping[str, Any] | None = None,
    max_events: int | None = None,
) -> ImportPlan:
    """Parse and validate every line; raises ``ValidationFailed`` with ``lines.N.field`` paths,
    or ``MalformedLine`` at the first line the strict JSON parser refuses."""
    plan = ImportPlan()
    errors = _Errors()
    events_by_ref: dict[str, tuple[str, str]] = {}
    schema = ImportLineSchema()
    base_metadata = dict(metadata or {})
    for number, raw in enumerate(lines, start=1):
        if len(errors) >= MAX_ERRORS:
            break
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            errors.add(number, "", f"Not valid UTF-8 (byte {exc.start + 1}).")
            continue
        if not text.strip():
            continue
        if max_events is not None and len(plan.events) >= max_events:
            errors.add(number, "", f"Too many events in one import (at most {max_events}).")
            break
        try:
            obj = jsontext.loads(text)
        except jsontext.JSONSyntaxError as exc:
            errors.add(number, "", f"Not valid JSON: {exc}.")
            continue
        except jsontext.JSONTextError as exc:  # duplicate keys, too deep, huge numbers…
            raise MalformedLine(number, str(exc)) from None
        if not isinstance(obj, dict):
            errors.add(number, "", f"A JSON {_kind(obj)}, not an object: the import takes NDJSON,"
                       " one JSON object per line (not a JSON array of them).")
            continue
        try:
            line = schema.load(obj)
        except ValidationError as exc:
            errors.merge(number, _flatten(exc.messages))
            continue
        event = _line_event(number, line, plan, events_by_ref, errors, scales, base_metadata)
        if event is not None:
            plan.events.append(event)
    if len(errors):
        raise ValidationFailed("the import has invalid lines; nothing was written", errors.errors)
    if not plan.events:
        raise ValidationFailed("the import is empty", {"lines": ["No events."]})
    return plan


def refused_append(
    exc: ClaimNotFound | ValidationFailed, events: Sequence[NewEvent]
) -> ValidationFailed:
    """The store's refusal of a planned import, its paths as ``lines.N.x`` (the line the
    refused event came from), for the API's 422 and the CLI's message alike."""
    if isinstance(exc, ClaimNotFound):
        missing = str(exc.claim_id)
        line = _line_of(events, missing)
        return ValidationFailed(
            "a line names a claim that does not exist; nothing was written",
            {f"lines.{line}.claim_id": [f"No such claim ({missing})."]},
        )
    mapped: dict[str, Any] = {}
    for key, value in exc.errors.items():
        index, rest = None, key
        if key.startswith("events[") and "]" in key:
            number, _, rest = key[len("events[") :].partition("]")
            index = int(number) if number.isdigit() else None
        elif len(events) == 1 and (key == "data" or key.startswith("data.")):
            index, rest = 0, key[len("data") :]
        if index is not None and index < len(events):
            key = f"lines.{events[index].metadata.get('import_line', '?')}.data{rest}"
        mapped[key] = value
    return ValidationFailed(str(exc), mapped)


def _line_of(events: Sequence[NewEvent], claim_id: str) -> Any:
    found = next((e for e in events if e.claim_id == claim_id), None)
    return found.metadata.get("import_line", "?") if found is not None else "?"


def _line_event(
    number: int,
    line: dict[str, Any],
    plan: ImportPlan,
    events_by_ref: dict[str, tuple[str, str]],
    errors: _Errors,
    scales: Scales,
    metadata: Mapping[str, Any],
) -> NewEvent | None:
    kind = line["type"]
    data = dict(line["data"])
    claim_ref, claim_id = line.get("claim_ref"), line.get("claim_id")
    before = len(errors)
    if kind == "ClaimRecorded":
        if claim_id is not None:
            errors.add(number, "claim_id", "A new claim gets its id from the ledger.")
        elif claim_ref is not None and claim_ref in plan.claims:
            errors.add(number, "claim_ref", "This claim_ref already names a claim.")
        else:
            claim_id = str(uuid.uuid4())
            if claim_ref is not None:
                plan.claims[claim_ref] = claim_id
    elif (claim_ref is None) == (claim_id is None):
        errors.add(number, "claim_ref", "Give exactly one of claim_ref and claim_id.")
    elif claim_ref is not None:
        claim_id = plan.claims.get(claim_ref)
        if claim_id is None:
            errors.add(number, "claim_ref", "No earlier ClaimRecorded line has this claim_ref.")
    target_ref = line.get("target_ref")
    if target_ref is not None:
        if kind != "EntryCorrected" or "target_event_id" in data:
            errors.add(number, "target_ref", "Only an EntryCorrected without target_event_id.")
        elif target_ref not in events_by_ref or events_by_ref[target_ref][1] != claim_id:
            errors.add(number, "target_ref", "No earlier line of this claim has this event_ref.")
        else:
            data["target_event_id"] = events_by_ref[target_ref][0]
    related_ref = line.get("related_claim_ref")
    if related_ref is not None:
        name = "target_claim_id" if kind == "ClaimLinked" else "related_claim_id"
        if kind not in ("ClaimCorroborated", "ClaimDenied", "ClaimLinked") or name in data:
            errors.add(number, "related_claim_ref", "Only on a corroboration, denial or link.")
        elif related_ref not in plan.claims:
            errors.add(number, "related_claim_ref", "No earlier claim has this claim_ref.")
        else:
            data[name] = plan.claims[related_ref]
    try:
        payload = validate_payload(kind, data, scales)
    except ValidationFailed as exc:
        errors.merge(number, exc.errors)
        return None
    if len(errors) > before or claim_id is None:
        return None
    event_id = str(uuid.uuid4())
    event_ref = line.get("event_ref")
    if event_ref is not None:
        if event_ref in events_by_ref:
            errors.add(number, "event_ref", "This event_ref is already used.")
            return None
        events_by_ref[event_ref] = (event_id, claim_id)
    return NewEvent(
        claim_id=claim_id,
        type=kind,
        data=payload,
        occurred_at=line.get("occurred_at"),
        metadata={**metadata, "import_line": number},
        id=event_id,
    )


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "boolean" if isinstance(value, bool) else "number"


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            for k, v in _flatten(value, name).items():
                flat.setdefault(k, []).extend(v)
    else:
        flat[prefix] = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
    return flat
