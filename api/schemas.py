"""HTTP schemas: request bodies built on the ledger's own payload schemas, and the answers.

A write body is an event payload plus ``occurred_at``. Its schema inherits the ledger's
payload schema, so the OpenAPI document shows exactly what the ledger accepts, and it
loads by handing the payload to ``ledger.events.validate_payload`` (one source of truth,
verdict scales included). Response schemas document JSON the views build directly from
``RecordedEvent.to_json()`` and the fold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from marshmallow import Schema, ValidationError, fields, validate

from ledger.errors import ValidationFailed
from ledger.events import (
    LINK_KINDS,
    AgentSchema,
    AppearanceSchema,
    ClaimRecordedSchema,
    validate_payload,
)
from ledger.fields import Timestamp

from .credentials import ROLES
from .errors import body_paths
from .state import ledger_state

_MAX_POSITION = 2**63 - 1
#: the most events one page of a claim's history holds (and its default size)
HISTORY_LIMIT = 1000
_TIME = {"format": "date-time"}


# --- request bodies -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventBody:
    """A loaded write body: the validated payload and the optional ``occurred_at``."""

    data: dict[str, Any]
    occurred_at: str | None


class EventBodySchema(Schema):
    """Base of the write bodies: a payload of ``event_type`` plus ``occurred_at``."""

    event_type: ClassVar[str] = ""
    occurred_at = Timestamp(
        metadata={
            "description": "When it happened in the world (RFC 3339 with a zone);"
            " defaults to the time the ledger records it."
        }
    )

    def load(self, data: Any, *args: Any, **kwargs: Any) -> EventBody:
        """Split off ``occurred_at`` and validate the rest as the event's payload."""
        if not isinstance(data, Mapping):
            raise ValidationError({"body": ["Send a JSON object."]})
        payload = dict(data)
        errors: dict[str, Any] = {}
        occurred_at: str | None = None
        if "occurred_at" in payload:
            try:
                occurred_at = self.fields["occurred_at"].deserialize(payload.pop("occurred_at"))
            except ValidationError as exc:
                errors["occurred_at"] = exc.messages
        try:
            payload = validate_payload(self.event_type, payload, ledger_state().store.scales)
        except ValidationFailed as exc:
            errors.update(body_paths(exc.errors))
        if errors:
            raise ValidationError(errors)
        return EventBody(payload, occurred_at)


class NewClaimSchema(EventBodySchema, ClaimRecordedSchema):
    """Body of ``POST /v1/claims``: a ``ClaimRecorded`` payload."""

    event_type = "ClaimRecorded"


def body_schema(kind: str, event_type: str, payload: type[Schema]) -> type[EventBodySchema]:
    """The body schema of ``POST /v1/claims/{id}/<kind>`` (``NewNoteSchema`` for ``notes``)."""
    article = "an" if event_type[0] in "AEIOU" else "a"
    made = type(f"New{kind[:-1].capitalize()}Schema", (EventBodySchema, payload), {
        "__doc__": f"Body of ``POST /v1/claims/{{id}}/{kind}``: {article} ``{event_type}``"
        " payload.",
        "__module__": __name__,
        "event_type": event_type,
    })
    return cast(type[EventBodySchema], made)


# --- headers and query strings ------------------------------------------------------
class WriteHeadersSchema(Schema):
    """Optional headers of every write."""

    if_match = fields.String(
        data_key="If-Match",
        metadata={
            "description": 'The claim version the write expects, e.g. "3" (412 when stale;'
            " 400 when malformed)."
        },
    )
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        metadata={
            "description": "1-200 printable ASCII characters; a repeat with the same body"
            " answers the original 201 and writes nothing, with another body 409."
        },
    )


class ReadHeadersSchema(Schema):
    """Optional headers of conditional reads."""

    if_none_match = fields.String(
        data_key="If-None-Match",
        metadata={"description": "304 Not Modified when it names the current ETag."},
    )


def min_position_field(note: str = "") -> fields.Integer:
    """The ``min_position`` query argument of reads from the views (read your writes)."""
    return fields.Integer(
        validate=validate.Range(min=0, max=_MAX_POSITION),
        metadata={
            "description": "Read your writes: wait (up to 2 s) until the views have applied"
            " this log position (a write's `position`, an import's `last_position`)."
            " 422 when it is beyond the log's head." + note
        },
    )


class ClaimQuerySchema(Schema):
    """Query of ``GET /v1/claims/{id}``: bitemporal replay, or read your writes."""

    as_of = Timestamp(metadata={"description": "What the ledger said at this time."})
    valid_at = Timestamp(
        metadata={"description": "Of the events recorded so far, those that occurred by then."}
    )
    min_position = min_position_field(
        " Past the wait the claim is folded from the log; ignored with as_of/valid_at"
        " (the log holds every committed write)."
    )


class HistoryQuerySchema(Schema):
    """Query of ``GET /v1/claims/{id}/history``."""

    as_of = Timestamp(metadata={"description": "Only the events recorded by this time."})
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=_MAX_POSITION),
        metadata={"description": "Answer the events with a version greater than this."},
    )
    limit = fields.Integer(
        load_default=HISTORY_LIMIT, validate=validate.Range(min=1, max=HISTORY_LIMIT),
        metadata={"description": "At most this many events (a page; follow next_after)."},
    )
    proofs = fields.Boolean(
        load_default=False,
        metadata={"description": "Add the signed checkpoint and each event's inclusion proof"
                  " (auditor role)."},
    )


class EventsQuerySchema(Schema):
    """Query of ``GET /v1/events``: a page of the global feed."""

    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=_MAX_POSITION),
        metadata={"description": "Answer events with a position greater than this."},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


# --- answers -------------------------------------------------------------------------
class EventSchema(Schema):
    """An event envelope as the log holds it; hashes in lowercase hex, times in UTC."""

    id = fields.UUID(required=True)
    claim_id = fields.UUID(required=True)
    version = fields.Integer(required=True, metadata={"minimum": 1})
    position = fields.Integer(required=True, metadata={"minimum": 1})
    type = fields.String(required=True)
    schema_version = fields.Integer(required=True)
    data = fields.Dict(required=True, allow_none=True, metadata={"description": "null if redacted"})
    occurred_at = fields.String(required=True, metadata=_TIME)
    recorded_at = fields.String(required=True, metadata=_TIME)
    actor = fields.String(required=True)
    metadata = fields.Dict(required=True)
    payload_sha256 = fields.String(required=True)
    prev_hash = fields.String(required=True, allow_none=True)
    leaf_hash = fields.String(required=True)
    redaction = fields.Dict()
    leaf_index = fields.Integer(metadata={"description": "With proofs=true: position - 1."})
    inclusion_proof = fields.List(
        fields.String(),
        metadata={"description": "With proofs=true: RFC 9162 inclusion proof (hex) against"
                  " the history's checkpoint."},
    )


class CorrectionNoteSchema(Schema):
    """A correction, clarification or void applied to an entry."""

    event_id = fields.UUID(required=True)
    kind = fields.String(required=True)
    reason = fields.String(allow_none=True)
    recorded_at = fields.String(required=True, metadata=_TIME)


class _EntrySchema(Schema):
    event_id = fields.UUID(required=True)
    occurred_at = fields.String(required=True, metadata=_TIME)
    corrections = fields.List(fields.Nested(CorrectionNoteSchema))


class AppearanceEntrySchema(_EntrySchema):
    """An appearance of the claim (the first one comes from ``ClaimRecorded``)."""

    outlet = fields.String()
    url = fields.String()
    published_at = fields.String(metadata=_TIME)
    quote = fields.String()


class ResponseEntrySchema(_EntrySchema):
    """A corroboration, denial or retraction."""

    by = fields.Nested(AgentSchema)
    appearance = fields.Nested(AppearanceSchema)
    note = fields.String()
    related_claim_id = fields.UUID()


class NoteEntrySchema(_EntrySchema):
    """An internal editorial note."""

    text = fields.String()


class LinkEntrySchema(_EntrySchema):
    """A link of this claim to another one (``ClaimLinked`` in this claim's stream)."""

    target_claim_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(LINK_KINDS))
    note = fields.String()


class InboundLinkSchema(Schema):
    """Another claim's link to this one (a ``ClaimLinked`` in the other claim's stream)."""

    event_id = fields.UUID(required=True)
    claim_id = fields.UUID(required=True, metadata={"description": "The claim that links here."})
    kind = fields.String(required=True, validate=validate.OneOf(LINK_KINDS))
    occurred_at = fields.String(required=True, metadata=_TIME)


class VerdictSchema(Schema):
    """The latest active verdict, with its place on its scale."""

    event_id = fields.UUID(required=True)
    scale = fields.String(required=True, allow_none=True)
    value = fields.String(required=True, allow_none=True)
    label = fields.String(required=True, allow_none=True)
    rating = fields.Integer(allow_none=True)
    best_rating = fields.Integer(allow_none=True)
    worst_rating = fields.Integer(allow_none=True)
    explanation = fields.String(required=True, allow_none=True)
    reviewer = fields.Nested(AgentSchema, allow_none=True)
    issued_at = fields.String(required=True, metadata=_TIME)


class CountsSchema(Schema):
    """Active entries only."""

    corroborations = fields.Integer(required=True)
    denials = fields.Integer(required=True)
    appearances = fields.Integer(required=True)


STATUSES = ("unverified", "corroborated", "denied", "disputed", "retracted", "voided")


class ClaimSchema(Schema):
    """A claim's state, folded from its events."""

    id = fields.UUID(required=True)
    statement = fields.String(required=True, allow_none=True)
    claimant = fields.Nested(AgentSchema, required=True, allow_none=True)
    language = fields.String(allow_none=True)
    tags = fields.List(fields.String(), required=True)
    appearances = fields.List(fields.Nested(AppearanceEntrySchema), required=True)
    first_appearance = fields.Nested(AppearanceEntrySchema, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    verdict = fields.Nested(VerdictSchema, required=True, allow_none=True)
    corroborations = fields.List(fields.Nested(ResponseEntrySchema), required=True)
    denials = fields.List(fields.Nested(ResponseEntrySchema), required=True)
    retraction = fields.Nested(ResponseEntrySchema, allow_none=True)
    notes = fields.List(fields.Nested(NoteEntrySchema))
    links = fields.List(
        fields.Nested(LinkEntrySchema),
        metadata={"description": "This claim's active links to other claims."},
    )
    linked_from = fields.List(
        fields.Nested(InboundLinkSchema),
        metadata={"description": "Other claims' active links to this one, oldest first;"
                  " absent when there are none. The log's answer (as_of, valid_at, the"
                  " views unavailable) holds the same as the views': with as_of or"
                  " valid_at, the links each other claim held then."},
    )
    counts = fields.Nested(CountsSchema, required=True)
    voided_event_ids = fields.List(fields.UUID())
    redacted_event_ids = fields.List(
        fields.UUID(), metadata={"description": "events whose payload was redacted"}
    )
    version = fields.Integer(required=True)
    created_at = fields.String(required=True, metadata=_TIME)
    updated_at = fields.String(required=True, metadata=_TIME)


class HistorySchema(Schema):
    """A page of a claim's events in version order; ask again with ``after=next_after``."""

    claim_id = fields.UUID(required=True)
    events = fields.List(fields.Nested(EventSchema), required=True)
    next_after = fields.Integer(
        required=True,
        metadata={"description": "The last version on this page (``after`` when it is empty);"
                  " a ``Link: rel=next`` header says more events follow."},
    )
    checkpoint = fields.String(
        metadata={"description": "With proofs=true: the signed checkpoint note the proofs"
                  " are against."},
    )


class EventPageSchema(Schema):
    """A page of the global feed; ask again with ``after=next_after`` for the next one."""

    items = fields.List(fields.Nested(EventSchema), required=True)
    next_after = fields.Integer(required=True)


class ImportResultSchema(Schema):
    """What an import appended, and the claim id behind each ``claim_ref``."""

    count = fields.Integer(required=True)
    first_position = fields.Integer(required=True)
    last_position = fields.Integer(required=True)
    claims = fields.Dict(keys=fields.String(), values=fields.UUID(), required=True)


class ProblemSchema(Schema):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages by field path, for validation failures."},
    )
    current_version = fields.Integer(metadata={"description": "With 412: the claim's version."})


class HealthSchema(Schema):
    """Liveness."""

    status = fields.String(required=True)


class ReadySchema(Schema):
    """Readiness, with the state of each dependency."""

    status = fields.String(
        required=True,
        metadata={"description": "ready, or degraded when only Redis (the views) is down"},
    )
    checks = fields.Dict(
        keys=fields.String(), values=fields.String(), required=True,
        metadata={"description": "ok, unavailable (no answer) or refused (it answers but"
                  " refuses: see reasons), by dependency"},
    )
    reasons = fields.Dict(
        keys=fields.String(), values=fields.String(),
        metadata={"description": "Why a dependency refuses (only present when one does),"
                  " e.g. Redis out of memory, read-only, or a cluster node behind a plain URL."},
    )


class TokenSchema(Schema):
    """An API token as stored (never the token itself)."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    created_at = fields.String(required=True, metadata=_TIME)
    created_by = fields.String(required=True)
    revoked_at = fields.String(required=True, allow_none=True, metadata=_TIME)
    revoked_by = fields.String(required=True, allow_none=True)


class TokenListSchema(Schema):
    """Every token ever created, revoked ones included."""

    items = fields.List(fields.Nested(TokenSchema), required=True)


class TokenLogEntrySchema(Schema):
    """Who created or revoked which token, and when."""

    token_id = fields.String(required=True)
    action = fields.String(required=True)
    actor = fields.String(required=True)
    at = fields.String(required=True, metadata=_TIME)


class TokenLogSchema(Schema):
    """The token log, oldest first."""

    items = fields.List(fields.Nested(TokenLogEntrySchema), required=True)
