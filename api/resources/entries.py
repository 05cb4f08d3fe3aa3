"""Entries on an existing claim: appearances, corroborations, denials, retractions,
verdicts, corrections, notes and links. Each POST appends one event and answers 201.

Each view names its body ``schema``; ``api.fastlane`` serves plain appends to these
views with the same schema and role, so the two cannot drift apart.
"""

from __future__ import annotations

from uuid import UUID

from flask import Response
from flask.views import MethodView

from ..appending import WRITE_HEADERS, append_event
from ..auth import requires
from ..parsing import Blueprint
from ..schemas import (
    EventBody,
    EventSchema,
    NewAppearanceSchema,
    NewCorrectionSchema,
    NewCorroborationSchema,
    NewDenialSchema,
    NewLinkSchema,
    NewNoteSchema,
    NewRetractionSchema,
    NewVerdictSchema,
    WriteHeadersSchema,
)

blp = Blueprint(
    "entries", __name__, url_prefix="/v1/claims/<uuid:claim_id>", description="Entries on a claim"
)


@blp.route("/appearances")
class Appearances(MethodView):
    """``/v1/claims/{id}/appearances``."""

    schema = NewAppearanceSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Add an appearance: the claim repeated or reported elsewhere (AppearanceAdded)."""
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/corroborations")
class Corroborations(MethodView):
    """``/v1/claims/{id}/corroborations``."""

    schema = NewCorroborationSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Record a corroboration (ClaimCorroborated)."""
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/denials")
class Denials(MethodView):
    """``/v1/claims/{id}/denials``."""

    schema = NewDenialSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Record a denial (ClaimDenied)."""
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/retractions")
class Retractions(MethodView):
    """``/v1/claims/{id}/retractions``."""

    schema = NewRetractionSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Record that the claim was withdrawn (ClaimRetracted)."""
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/verdicts")
class Verdicts(MethodView):
    """``/v1/claims/{id}/verdicts``."""

    schema = NewVerdictSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Issue a verdict on a named scale (VerdictIssued); the value must be on the scale."""
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/corrections")
class Corrections(MethodView):
    """``/v1/claims/{id}/corrections``."""

    schema = NewCorrectionSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Correct, clarify or void an earlier entry of this claim (EntryCorrected).

        The target must be an earlier event of this claim, not a correction and not
        already voided; ``changes`` may name only fields of the target's payload.
        """
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/notes")
class Notes(MethodView):
    """``/v1/claims/{id}/notes``."""

    schema = NewNoteSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Add an internal editorial note (NoteAdded)."""
        return append_event(self.schema.event_type, str(claim_id), body, headers)


@blp.route("/links")
class Links(MethodView):
    """``/v1/claims/{id}/links``."""

    schema = NewLinkSchema

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(schema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Link this claim to another one (ClaimLinked): same-as, restates, responds-to or
        contradicts. The other claim must exist and be another claim (422 otherwise); void
        the link with a correction like any entry.
        """
        return append_event(self.schema.event_type, str(claim_id), body, headers)
