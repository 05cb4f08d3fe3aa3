"""ClaimReview: a rated claim as schema.org JSON-LD, for fact-check publishers and search."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response, request
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields

from ledger.claimreview import ReviewAuthor, claim_review, review_url, script_json
from ledger.errors import ClaimNotFound
from ledger.fold import fold

from ..auth import requires
from ..errors import Problem
from ..parsing import Blueprint, none_match
from ..responses import json_text_response, state_etag
from ..schemas import ReadHeadersSchema
from ..settings import Settings
from ..state import ledger_state
from .log import NoQuerySchema

JSON_LD = "application/ld+json"

blp = Blueprint(
    "claimreview",
    __name__,
    url_prefix="/v1/claims/<uuid:claim_id>",
    description="schema.org ClaimReview of rated claims",
)


class ClaimReviewSchema(Schema):
    """A schema.org ``ClaimReview`` (JSON-LD); see https://schema.org/ClaimReview."""

    context = fields.String(data_key="@context", required=True)
    type = fields.String(data_key="@type", required=True)
    url = fields.String(required=True)
    claim_reviewed = fields.String(data_key="claimReviewed", required=True)
    date_published = fields.String(data_key="datePublished", required=True)
    author = fields.Dict(required=True)
    review_rating = fields.Dict(data_key="reviewRating", required=True)
    item_reviewed = fields.Dict(data_key="itemReviewed", required=True)
    review_body = fields.String(data_key="reviewBody")

def review_author(settings: Settings) -> ReviewAuthor:
    """The configured publisher of the reviews."""
    return ReviewAuthor(settings.review_author, settings.review_author_url)


def base_url(settings: Settings) -> str | None:
    """LEDGER_PUBLIC_URL; never the request's Host header (anyone may send one)."""
    return settings.public_url or None


@blp.route("/claimreview")
class ClaimReview(MethodView):
    """``/v1/claims/{id}/claimreview``."""

    @requires("reader")
    @blp.arguments(ReadHeadersSchema, location="headers")
    @blp.arguments(NoQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, ClaimReviewSchema, content_type=JSON_LD)
    @blp.alt_response(304, description="Not modified (If-None-Match named the current ETag)")
    def get(self, _headers: dict[str, Any], _query: dict[str, Any], claim_id: UUID) -> Response:
        """The claim and its latest verdict as a ClaimReview; 404 while it has no verdict."""
        state_ = ledger_state()
        events = state_.store.read_claim(str(claim_id))
        state = fold(events, state_.store.scales)
        if state is None:
            raise ClaimNotFound(claim_id)
        tag = state_etag(state)
        if none_match(request.headers.get("If-None-Match"), tag):
            return Response(status=304, headers={"ETag": tag})
        review = claim_review(
            state,
            author=review_author(state_.settings),
            url=review_url(base_url(state_.settings), str(claim_id)),
        )
        if review is None:
            raise Problem(
                404,
                "This claim has no active verdict (or its verdict or statement was"
                " redacted), so there is no ClaimReview of it.",
                slug="no-verdict",
            )
        # safe to paste into a <script> tag: no literal <, >, &, U+2028 or U+2029
        return json_text_response(script_json(review), headers={"ETag": tag}, mimetype=JSON_LD)
