"""Claims: record one, read its state (now or replayed as of a time) and its history."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Response, request
from flask.views import MethodView

from ledger.errors import ClaimNotFound
from ledger.fold import replay
from ledger.store.base import new_uuid

from ..auth import requires
from ..parsing import Blueprint, none_match
from ..responses import etag, json_response
from ..schemas import (
    ClaimQuerySchema,
    ClaimSchema,
    EventBody,
    EventSchema,
    HistoryQuerySchema,
    HistorySchema,
    NewClaimSchema,
    ReadHeadersSchema,
    WriteHeadersSchema,
)
from ..state import ledger_state
from ..writing import WRITE_HEADERS, append_event
from . import log

blp = Blueprint("claims", __name__, url_prefix="/v1/claims", description="Claims and their state")

_ETAG_HEADER = {
    "ETag": {"description": 'The claim version, quoted: "3"', "schema": {"type": "string"}}
}


def _not_modified(tag: str) -> Response | None:
    if none_match(request.headers.get("If-None-Match"), tag):
        return Response(status=304, headers={"ETag": tag})
    return None


@blp.route("")
class Claims(MethodView):
    """``/v1/claims``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewClaimSchema())
    @blp.response(201, EventSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody) -> Response:
        """Record a claim (a ClaimRecorded event; the claim's id is new)."""
        return append_event("ClaimRecorded", new_uuid(), body, headers)


@blp.route("/<uuid:claim_id>")
class Claim(MethodView):
    """``/v1/claims/{id}``."""

    @requires("reader")
    @blp.arguments(ReadHeadersSchema(), location="headers")
    @blp.arguments(ClaimQuerySchema(), location="query")
    @blp.response(200, ClaimSchema, headers=_ETAG_HEADER)
    @blp.alt_response(304, description="Not modified (If-None-Match named the current ETag)")
    def get(self, _headers: dict[str, Any], query: dict[str, str], claim_id: UUID) -> Response:
        """A claim's state, folded from the log; ``as_of``/``valid_at`` replay it.

        Only the current state carries an ETag (its version).
        """
        store = ledger_state().store
        as_of, valid_at = query.get("as_of"), query.get("valid_at")
        events = store.read_claim(str(claim_id), as_of=as_of)
        headers = {}
        if events and as_of is None and valid_at is None:
            tag = headers["ETag"] = etag(events[-1].version)
            unchanged = _not_modified(tag)
            if unchanged is not None:
                return unchanged
        state = replay(events, valid_at=valid_at, scales=store.scales)
        if state is None:
            raise ClaimNotFound(claim_id)
        return json_response(state, headers=headers)


@blp.route("/<uuid:claim_id>/history")
class History(MethodView):
    """``/v1/claims/{id}/history``."""

    @requires("reader")
    @blp.arguments(ReadHeadersSchema(), location="headers")
    @blp.arguments(HistoryQuerySchema(), location="query")
    @blp.response(200, HistorySchema, headers=_ETAG_HEADER)
    @blp.alt_response(304, description="Not modified (If-None-Match named the current ETag)")
    def get(self, _headers: dict[str, Any], query: dict[str, str], claim_id: UUID) -> Response:
        """A claim's events in version order (those recorded by ``as_of``, if given).

        ``proofs=true`` (auditor role) adds the signed checkpoint and, on each event,
        ``leaf_index`` and ``inclusion_proof`` against it.
        """
        as_of, proofs = query.get("as_of"), bool(query.get("proofs"))
        if proofs:
            log.require_auditor()
        events = ledger_state().store.read_claim(str(claim_id), as_of=as_of)
        if not events:
            raise ClaimNotFound(claim_id)
        headers = {}
        if as_of is None and not proofs:
            tag = headers["ETag"] = etag(events[-1].version)
            unchanged = _not_modified(tag)
            if unchanged is not None:
                return unchanged
        body = {"claim_id": str(claim_id), "events": [e.to_json() for e in events]}
        if proofs:
            body.update(log.history_with_proofs(events))
        return json_response(body, headers=headers)
