"""Claims: record one, list them, read one's state (now or replayed as of a time), history.

The list is read from the views in Redis. A claim's current state is read from the views
too, and folded from the log whenever the views cannot answer in time (Redis down, the
views behind ``min_position`` past the wait, or not yet holding the claim), so a single
claim never depends on Redis. ``X-Ledger-Source`` says which answered.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from flask import Response, request
from flask.views import MethodView

from ledger.errors import ClaimNotFound
from ledger.fold import replay
from ledger.store.base import new_uuid
from workers.views import ViewsBehind, ViewsUnavailable

from ..auth import requires
from ..errors import Problem
from ..parsing import Blueprint, none_match
from ..projections import UNAVAILABLE_DOC, WAIT_SECONDS, view_service
from ..responses import envelopes_etag, etag, json_response, json_text_response, state_etag
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
from ..view_schemas import ClaimListQuerySchema, ClaimListSchema
from ..writing import WRITE_HEADERS, append_event
from . import log

blp = Blueprint("claims", __name__, url_prefix="/v1/claims", description="Claims and their state")
logger = logging.getLogger("api.claims")

#: the answer's source: ``views`` (Redis) or ``log`` (folded from the event store)
SOURCE = "X-Ledger-Source"
_SOURCE_HEADER = {
    SOURCE: {"description": "views or log: what answered", "schema": {"type": "string"}}
}
_ETAG_HEADER = {
    "ETag": {"description": 'The claim version, quoted: "3"', "schema": {"type": "string"}}
}


def _not_modified(tag: str, source: str) -> Response | None:
    if none_match(request.headers.get("If-None-Match"), tag):
        return Response(status=304, headers={"ETag": tag, SOURCE: source})
    return None


def checked_min_position(value: int | None) -> int | None:
    """``min_position`` if a wait can reach it: 422 beyond the log's head (no write has it)."""
    if not value:
        return None
    head = ledger_state().store.head()
    if value > head:
        raise Problem(
            422, "The request failed validation.", slug="validation-failed",
            errors={"min_position": [f"Beyond the log's head ({head}): no write has it."]},
        )
    return value


def _from_views(claim_id: str, min_position: int | None) -> dict[str, Any] | None:
    """A claim's state from the views, or None when they cannot answer (use the log)."""
    try:
        with view_service().reading() as reader:
            return reader.get_claim(claim_id, min_position=min_position, timeout=WAIT_SECONDS)
    except (ViewsUnavailable, ViewsBehind) as exc:
        logger.debug("claim %s from the log: %s", claim_id, exc)
        return None


@blp.route("")
class Claims(MethodView):
    """``/v1/claims``."""

    @requires("reader")
    @blp.arguments(ClaimListQuerySchema(), location="query")
    @blp.response(200, ClaimListSchema, headers=_SOURCE_HEADER)
    @blp.alt_response(503, **UNAVAILABLE_DOC)
    def get(self, query: dict[str, Any]) -> Response:
        """Claims from the views, newest update first; filters combine, ``next`` pages.

        Voided claims are listed only with ``status=voided``. ``min_position`` waits (up
        to 2 s) for the views to reach a write's position, else answers 503. A page may
        hold fewer than ``limit`` claims when a narrow filter needed a long scan; only a
        null ``next`` means the end.
        """
        min_position = checked_min_position(query.get("min_position"))
        with view_service().reading() as reader:
            items, cursor = reader.list_claims(
                status=query.get("status"),
                verdict=query.get("verdict"),
                claimant=query.get("claimant"),
                outlet=query.get("outlet"),
                tag=query.get("tag"),
                updated_after=query.get("updated_after"),
                limit=query["limit"],
                cursor=query.get("cursor"),
                min_position=min_position,
                timeout=WAIT_SECONDS,
            )
        return json_response({"items": items, "next": cursor}, headers={SOURCE: "views"})

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
    @blp.response(200, ClaimSchema, headers={**_ETAG_HEADER, **_SOURCE_HEADER})
    @blp.alt_response(304, description="Not modified (If-None-Match named the current ETag)")
    def get(self, _headers: dict[str, Any], query: dict[str, Any], claim_id: UUID) -> Response:
        """A claim's state: from the views, else folded from the log; ``as_of``/``valid_at``
        replay it from the log.

        ``min_position`` waits (up to 2 s) for the views to reach a write's position; past
        that, or with Redis down, the log answers (``X-Ledger-Source: log``). Only the
        current state carries an ETag (its version).
        """
        as_of, valid_at = query.get("as_of"), query.get("valid_at")
        if as_of is None and valid_at is None:
            min_position = checked_min_position(query.get("min_position"))
            state = _from_views(str(claim_id), min_position)
            if state is not None:
                tag = state_etag(state)
                unchanged = _not_modified(tag, "views")
                if unchanged is not None:
                    return unchanged
                return json_response(state, headers={"ETag": tag, SOURCE: "views"})
        store = ledger_state().store
        events = store.read_claim(str(claim_id), as_of=as_of)
        headers = {SOURCE: "log"}
        if events and as_of is None and valid_at is None:
            redacted = sum(1 for e in events if e.data is None)
            tag = headers["ETag"] = etag(events[-1].version, redacted)
            unchanged = _not_modified(tag, "log")
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
        as_of = query.get("as_of")
        if not query.get("proofs"):
            return _history_text(str(claim_id), as_of)
        log.require_auditor()
        events = ledger_state().store.read_claim(str(claim_id), as_of=as_of)
        if not events:
            raise ClaimNotFound(claim_id)
        body = {"claim_id": str(claim_id), "events": [e.to_json() for e in events]}
        body.update(log.history_with_proofs(events))
        return json_response(body)


def _history_text(claim_id: str, as_of: str | None) -> Response:
    """History without proofs: the envelopes as the store wrote them, not re-encoded."""
    envelopes = ledger_state().store.read_claim_json(claim_id, as_of=as_of)
    if not envelopes:
        raise ClaimNotFound(claim_id)
    headers: dict[str, str] = {}
    if as_of is None:
        tag = headers["ETag"] = envelopes_etag(envelopes)
        unchanged = _not_modified(tag, "log")
        if unchanged is not None:
            return unchanged
    events = ",".join(text for _, text in envelopes)
    return json_text_response(f'{{"claim_id":"{claim_id}","events":[{events}]}}', headers=headers)
