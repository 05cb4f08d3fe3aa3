"""Entries on an existing claim: appearances, corroborations, denials, retractions,
verdicts, corrections and notes. Each POST appends one event and answers 201."""

from __future__ import annotations

from uuid import UUID

from flask import Response
from flask.views import MethodView

from ..auth import requires
from ..parsing import Blueprint
from ..schemas import (
    EventBody,
    EventSchema,
    NewAppearanceSchema,
    NewCorrectionSchema,
    NewCorroborationSchema,
    NewDenialSchema,
    NewNoteSchema,
    NewRetractionSchema,
    NewVerdictSchema,
    WriteHeadersSchema,
)
from ..writing import WRITE_HEADERS, append_event

blp = Blueprint(
    "entries", __name__, url_prefix="/v1/claims/<uuid:claim_id>", description="Entries on a claim"
)


@blp.route("/appearances")
class Appearances(MethodView):
    """``/v1/claims/{id}/appearances``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewAppearanceSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Add an appearance: the claim repeated or reported elsewhere (AppearanceAdded)."""
        return append_event("AppearanceAdded", str(claim_id), body, headers)


@blp.route("/corroborations")
class Corroborations(MethodView):
    """``/v1/claims/{id}/corroborations``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewCorroborationSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Record a corroboration (ClaimCorroborated)."""
        return append_event("ClaimCorroborated", str(claim_id), body, headers)


@blp.route("/denials")
class Denials(MethodView):
    """``/v1/claims/{id}/denials``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewDenialSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Record a denial (ClaimDenied)."""
        return append_event("ClaimDenied", str(claim_id), body, headers)


@blp.route("/retractions")
class Retractions(MethodView):
    """``/v1/claims/{id}/retractions``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewRetractionSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Record that the claim was withdrawn (ClaimRetracted)."""
        return append_event("ClaimRetracted", str(claim_id), body, headers)


@blp.route("/verdicts")
class Verdicts(MethodView):
    """``/v1/claims/{id}/verdicts``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewVerdictSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Issue a verdict on a named scale (VerdictIssued); the value must be on the scale."""
        return append_event("VerdictIssued", str(claim_id), body, headers)


@blp.route("/corrections")
class Corrections(MethodView):
    """``/v1/claims/{id}/corrections``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewCorrectionSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Correct, clarify or void an earlier entry of this claim (EntryCorrected).

        The target must be an earlier event of this claim, not a correction and not
        already voided; ``changes`` may name only fields of the target's payload.
        """
        return append_event("EntryCorrected", str(claim_id), body, headers)


@blp.route("/notes")
class Notes(MethodView):
    """``/v1/claims/{id}/notes``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewNoteSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody, claim_id: UUID) -> Response:
        """Add an internal editorial note (NoteAdded)."""
        return append_event("NoteAdded", str(claim_id), body, headers)
