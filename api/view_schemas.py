"""HTTP schemas of the endpoints that read the views: the list, projections and jobs."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from ledger.fields import Timestamp
from ledger.search.base import InvalidSearch, decode_offset
from workers.views import MAX_LIMIT, InvalidQuery, decode_cursor

from .schemas import STATUSES, ClaimSchema, EventSchema, min_position_field

_TIME = {"format": "date-time"}
_NAME = validate.Length(min=1, max=500)

def _cursor(value: str) -> None:
    try:
        decode_cursor(value)
    except InvalidQuery:
        try:
            decode_offset(value)
        except InvalidSearch:
            raise ValidationError(
                "Not a cursor this API issued (use the list's `next`)."
            ) from None


class ClaimListQuerySchema(Schema):
    """Query of ``GET /v1/claims``: filters (all must match), page size, cursor; ``q``
    searches. Unknown parameters are a 422."""

    q = fields.String(
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Full-text search of statements, claimants, quotes, outlets,"
                  " the agents of denials and corroborations, verdicts, notes and tags:"
                  " words (any order, accents and case ignored, a misspelt word matches the"
                  " indexed words a typo or two away), \"quoted phrases\" and -excluded"
                  " words. Claims holding every word come first, then those holding some;"
                  " ranked, each item with a `snippet`. Pages stop after 1,000 results."},
    )

    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "Voided claims are listed only with status=voided."},
    )
    verdict = fields.String(
        validate=_NAME, metadata={"description": "The verdict's value on its scale, e.g. false."}
    )
    claimant = fields.String(
        validate=_NAME, metadata={"description": "The claimant's name (case and spacing ignored)."}
    )
    outlet = fields.String(
        validate=_NAME,
        metadata={"description": "An outlet the claim appeared in (case and spacing ignored)."},
    )
    tag = fields.String(validate=_NAME, metadata={"description": "One of the claim's tags."})
    updated_after = Timestamp(metadata={"description": "Only claims updated after this time."})
    linked_to = fields.UUID(
        metadata={"description": "Only the claims linked to this claim or from it (ClaimLinked,"
                  " either way). While the views cannot answer, the log does, with the same"
                  " items and cursors (X-Ledger-Source: log)."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = fields.String(
        validate=[validate.Length(max=1000), _cursor],
        metadata={"description": "The `next` of the previous page."},
    )
    min_position = min_position_field()


class SearchItemSchema(ClaimSchema):
    """A claim of the list; with ``q``, also its snippet and score."""

    snippet = fields.String(
        metadata={"description": "With q: an excerpt, HTML-escaped, matches in <mark>."}
    )
    score = fields.Float(metadata={"description": "With q: the rank (higher is better)."})


class ClaimListSchema(Schema):
    """A page of claims, newest update first (best match first with ``q``); ask again with
    ``cursor=next``."""

    items = fields.List(fields.Nested(SearchItemSchema), required=True)
    next = fields.String(
        required=True, allow_none=True, metadata={"description": "null on the last page"}
    )


class RefusalSchema(Schema):
    """Redis answers but refuses the views' commands."""

    kind = fields.String(
        required=True,
        metadata={"description": "out_of_memory, read_only, cluster, no_permission, auth,"
                  " misconfigured or refused"},
    )
    reason = fields.String(required=True, metadata={"description": "What it means, what to do."})
    detail = fields.String(required=True, metadata={"description": "Redis' own words."})


class ProjectionsSchema(Schema):
    """The views: how far they have applied the log, their generation, queues and workers."""

    head = fields.Integer(required=True, metadata={"description": "The log's last position."})
    checkpoint = fields.Integer(
        required=True, allow_none=True,
        metadata={"description": "The last position every partition has applied."},
    )
    lag = fields.Integer(
        required=True, allow_none=True, metadata={"description": "head - checkpoint"}
    )
    generation = fields.Integer(required=True, allow_none=True)
    partitions = fields.Integer(required=True, allow_none=True)
    configured_partitions = fields.Integer(required=True)
    switched_at = fields.String(required=True, allow_none=True, metadata=_TIME)
    rebuilding = fields.Boolean(required=True)
    rebuild_job_id = fields.String(required=True, allow_none=True)
    building_generation = fields.Integer(required=True, allow_none=True)
    partition_checkpoints = fields.List(fields.Integer(allow_none=True), required=True)
    last_tick = fields.Float(
        required=True, allow_none=True, metadata={"description": "Unix time of the last tick."}
    )
    queues = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True,
        metadata={"description": "Jobs queued, scheduled and started, by queue."},
    )
    workers = fields.Integer(required=True)
    stats = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    redis_refusal = fields.Nested(
        RefusalSchema, required=True, allow_none=True,
        metadata={"description": "null while Redis accepts the views' writes; else why it"
                  " refuses them (the workers back off meanwhile)."},
    )
    search = fields.Dict(
        metadata={"description": "The search index: available, generation, checkpoint, lag"
                  " (head - checkpoint), partition_checkpoints, building_generation and"
                  " building_checkpoint (a rebuild's progress)."}
    )


class SimilarQuerySchema(Schema):
    """Query of ``GET /v1/claims/similar``."""

    statement = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                              metadata={"description": "The statement to compare."})
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))
    min_score = fields.Float(load_default=0.2, validate=validate.Range(min=0, max=1),
                             metadata={"description": "The lowest similarity returned."})
    min_position = min_position_field()


class SimilarItemSchema(Schema):
    """A claim close to the statement: its summary and trigram similarity."""

    claim = fields.Nested(ClaimSchema, required=True)
    score = fields.Float(required=True, metadata={"description": "0 to 1 (1: the same words)."})


class RecordedClaimSchema(EventSchema):
    """A new claim's ``ClaimRecorded`` event, and the claims already recorded close to it."""

    similar = fields.List(
        fields.Nested(SimilarItemSchema),
        metadata={"description": "Up to three claims whose statement or quotes are close to"
                  " this one (similarity at least 0.45), best first: a possible duplicate."
                  " Absent when the search index could not answer."},
    )


class SimilarSchema(Schema):
    """The closest claims, best first."""

    items = fields.List(fields.Nested(SimilarItemSchema), required=True)


class RebuildSchema(Schema):
    """A rebuild accepted: follow it at ``/v1/jobs/{job_id}``."""

    job_id = fields.String(required=True)


class JobProgressSchema(Schema):
    """How far a rebuild has come."""

    processed = fields.Integer(allow_none=True)
    head = fields.Integer(allow_none=True)
    percent = fields.Float(allow_none=True)


class JobSchema(Schema):
    """A background job of the views (a rebuild, a catch-up, a tick)."""

    id = fields.String(required=True)
    kind = fields.String(required=True)
    status = fields.String(
        required=True,
        metadata={"description": "queued, scheduled, deferred, started, finished, failed,"
                  " stopped or canceled"},
    )
    progress = fields.Nested(JobProgressSchema, required=True)
    meta = fields.Dict(required=True)
    enqueued_at = fields.String(required=True, allow_none=True, metadata=_TIME)
    started_at = fields.String(required=True, allow_none=True, metadata=_TIME)
    ended_at = fields.String(required=True, allow_none=True, metadata=_TIME)
    error = fields.String(required=True, allow_none=True)
