"""The event types of a claim's stream and their payload schemas.

Each type has a marshmallow schema and a ``schema_version``; unknown fields are
rejected, strings are bounded, times are normalised to UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .errors import ValidationFailed
from .fields import HttpUrl, LanguageTag, Slug, Text, Timestamp, Uri, UUIDText
from .scales import DEFAULT_SCALES, Scales


class StrictSchema(Schema):
    """Base schema: unknown fields are an error."""

    class Meta:
        unknown = RAISE


class AgentSchema(StrictSchema):
    """A person or organisation: a name and optionally a URI identifying them."""

    name = Text(200, required=True)
    same_as = Uri()


class AppearanceSchema(StrictSchema):
    """Where a claim appeared: the outlet, and optionally the URL, time and quote."""

    outlet = Text(200, required=True)
    url = HttpUrl()
    published_at = Timestamp()
    quote = Text(5000, multiline=True)


class ClaimRecordedSchema(StrictSchema):
    """Payload of ``ClaimRecorded``: the claim as first logged."""

    statement = Text(2000, multiline=True, required=True)
    claimant = fields.Nested(AgentSchema, required=True)
    appearance = fields.Nested(AppearanceSchema, required=True)
    language = LanguageTag()
    tags = fields.List(Slug(), validate=validate.Length(max=20))

    @validates_schema
    def _unique_tags(self, data: Mapping[str, Any], **_: Any) -> None:
        tags = data.get("tags") or []
        if len(set(tags)) != len(tags):
            raise ValidationError("Tags must be unique.", "tags")


class AppearanceAddedSchema(StrictSchema):
    """Payload of ``AppearanceAdded``: the claim repeated or reported elsewhere."""

    appearance = fields.Nested(AppearanceSchema, required=True)


class ClaimCorroboratedSchema(StrictSchema):
    """Payload of ``ClaimCorroborated`` (and, with the same shape, ``ClaimDenied``)."""

    by = fields.Nested(AgentSchema, required=True)
    appearance = fields.Nested(AppearanceSchema)
    note = Text(5000, multiline=True)
    related_claim_id = UUIDText()


class ClaimDeniedSchema(ClaimCorroboratedSchema):
    """Payload of ``ClaimDenied``."""


class ClaimRetractedSchema(StrictSchema):
    """Payload of ``ClaimRetracted``: the claimant (or outlet) withdrew the claim."""

    by = fields.Nested(AgentSchema, required=True)
    appearance = fields.Nested(AppearanceSchema)
    note = Text(5000, multiline=True)


class VerdictIssuedSchema(StrictSchema):
    """Payload of ``VerdictIssued``: a rating on a named scale."""

    scale = Slug(required=True)
    value = Slug(required=True)
    explanation = Text(10000, multiline=True, required=True)
    reviewer = fields.Nested(AgentSchema)


CORRECTION_KINDS = ("correction", "clarification", "void")


class EntryCorrectedSchema(StrictSchema):
    """Payload of ``EntryCorrected``: corrects, clarifies or voids an earlier entry."""

    target_event_id = UUIDText(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CORRECTION_KINDS))
    changes = fields.Dict(keys=fields.String(validate=validate.Length(max=100)))
    reason = Text(2000, multiline=True, required=True)

    @validates_schema
    def _changes_match_kind(self, data: Mapping[str, Any], **_: Any) -> None:
        changes = data.get("changes")
        if data.get("kind") == "correction" and not changes:
            raise ValidationError("A correction must name the changes it makes.", "changes")
        if data.get("kind") != "correction" and changes is not None:
            raise ValidationError("Only a correction carries changes.", "changes")


class NoteAddedSchema(StrictSchema):
    """Payload of ``NoteAdded``: an internal editorial note."""

    text = Text(10000, multiline=True, required=True)


LINK_KINDS = ("same-as", "restates", "responds-to", "contradicts")


class ClaimLinkedSchema(StrictSchema):
    """Payload of ``ClaimLinked``: this claim bears on another one (both must exist).

    ``same-as``: the two are one claim recorded twice; ``restates``: this claim says the
    other's again, in other words or by someone else; ``responds-to``: it answers the
    other; ``contradicts``: it says the opposite.
    """

    target_claim_id = UUIDText(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(LINK_KINDS))
    note = Text(5000, multiline=True)


@dataclass(frozen=True, slots=True)
class EventType:
    """A registered event type: its name, payload schema and schema version."""

    name: str
    schema_version: int
    schema: type[Schema]


EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in (
        EventType("ClaimRecorded", 1, ClaimRecordedSchema),
        EventType("AppearanceAdded", 1, AppearanceAddedSchema),
        EventType("ClaimCorroborated", 1, ClaimCorroboratedSchema),
        EventType("ClaimDenied", 1, ClaimDeniedSchema),
        EventType("ClaimRetracted", 1, ClaimRetractedSchema),
        EventType("VerdictIssued", 1, VerdictIssuedSchema),
        EventType("EntryCorrected", 1, EntryCorrectedSchema),
        EventType("NoteAdded", 1, NoteAddedSchema),
        EventType("ClaimLinked", 1, ClaimLinkedSchema),
    )
}

_SCHEMAS: dict[str, Schema] = {}


def schema_for(type_name: str) -> Schema:
    """A (cached) schema instance for an event type."""
    schema = _SCHEMAS.get(type_name)
    if schema is None:
        schema = _SCHEMAS[type_name] = EVENT_TYPES[type_name].schema()
    return schema


def validate_payload(
    type_name: str, data: Any, scales: Scales = DEFAULT_SCALES, *, path: str = "data"
) -> dict[str, Any]:
    """Validate and normalise a payload; raises ``ValidationFailed`` with field paths."""
    if type_name not in EVENT_TYPES:
        raise ValidationFailed(
            f"unknown event type {type_name!r}",
            {"type": [f"Must be one of: {', '.join(EVENT_TYPES)}."]},
        )
    if not isinstance(data, Mapping):
        raise ValidationFailed("the payload must be a JSON object", {path: ["Not an object."]})
    try:
        loaded: dict[str, Any] = schema_for(type_name).load(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "the payload failed validation", _prefix(path, exc.messages)
        ) from None
    if type_name == "VerdictIssued":
        scale = scales.get(loaded["scale"])
        if scale is None:
            raise ValidationFailed(
                "unknown verdict scale",
                {f"{path}.scale": [f"Unknown scale; known: {', '.join(sorted(scales))}."]},
            )
        if scale.get(loaded["value"]) is None:
            allowed = ", ".join(v.value for v in scale.values)
            raise ValidationFailed(
                "the verdict is not on its scale",
                {f"{path}.value": [f"Not a value of scale {scale.name!r}; one of: {allowed}."]},
            )
    return loaded


def _prefix(path: str, messages: Any) -> dict[str, Any]:
    """Flatten marshmallow's nested messages into ``{"data.a.b": [...]}``."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                name = prefix if key == "_schema" else f"{prefix}.{key}"
                walk(name, value)
        else:
            flat.setdefault(prefix, []).extend(node if isinstance(node, list) else [node])

    walk(path, messages)
    return flat
