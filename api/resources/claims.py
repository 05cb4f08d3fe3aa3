"""Claims: record one, list them, read one's state (now or replayed as of a time), history.

The list is read from the views in Redis. A claim's current state is read from the views
too, and folded from the log whenever the views cannot answer in time (Redis down, the
views behind ``min_position`` past the wait, or not yet holding the claim), so a single
claim never depends on Redis; the log's answer holds the other claims' links to it too
(``ledger.links``), as the views' does. ``X-Ledger-Source`` says which answered.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from flask import Response, request
from flask.views import MethodView
from marshmallow import RAISE

from ledger.errors import ClaimNotFound
from ledger.fold import replay
from ledger.ids import new_uuid
from ledger.links import linked_from
from workers.links_log import linked_claims_from_log
from workers.views import ViewsBehind, ViewsUnavailable

from ..appending import WRITE_HEADERS, append_event
from ..auth import requires
from ..errors import Problem
from ..parsing import Blueprint, none_match
from ..responses import (
    envelopes_etag,
    etag,
    json_response,
    json_text_response,
    linked_etag,
    state_etag,
)
from ..schemas import (
    ClaimQuerySchema,
    ClaimSchema,
    EventBody,
    HistoryQuerySchema,
    HistorySchema,
    NewClaimSchema,
    ReadHeadersSchema,
    WriteHeadersSchema,
)
from ..search import SIMILAR_ON_RECORD, SIMILAR_THRESHOLD, search_service
from ..state import ledger_state
from ..view_schemas import (
    ClaimListQuerySchema,
    ClaimListSchema,
    RecordedClaimSchema,
    SimilarQuerySchema,
    SimilarSchema,
)
from ..view_service import UNAVAILABLE_DOC, WAIT_SECONDS, view_service
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
_LINK_HEADER = {
    "Link": {"description": 'The next page while more follow: <...?after=N&limit=L>; rel="next"',
             "schema": {"type": "string"}}
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
    @blp.arguments(ClaimListQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, ClaimListSchema, headers=_SOURCE_HEADER)
    @blp.alt_response(503, **UNAVAILABLE_DOC)
    def get(self, query: dict[str, Any]) -> Response:
        """Claims from the views, newest update first; filters combine, ``next`` pages.

        Voided claims are listed only with ``status=voided``. ``min_position`` waits (up
        to 2 s) for the views to reach a write's position, else answers 503. A page may
        hold fewer than ``limit`` claims when a narrow filter needed a long scan; only a
        null ``next`` means the end. With ``q`` the search index answers
        (``X-Ledger-Source: search``), best match first, each item with a ``snippet``.
        With ``linked_to``, while the views cannot answer (or lag past ``min_position``'s
        wait) the log does, with the same items and cursors (``X-Ledger-Source: log``).
        Unknown query parameters are a 422.
        """
        min_position = checked_min_position(query.get("min_position"))
        if query.get("q"):
            return _search(query, min_position)
        linked_to = str(query["linked_to"]) if query.get("linked_to") else None
        filters: dict[str, str | None] = {
            name: query.get(name) for name in ("status", "verdict", "claimant", "outlet", "tag")
        }
        try:
            with view_service().reading() as reader:
                items, cursor = reader.list_claims(
                    status=filters["status"], verdict=filters["verdict"],
                    claimant=filters["claimant"], outlet=filters["outlet"], tag=filters["tag"],
                    updated_after=query.get("updated_after"),
                    linked_to=linked_to,
                    limit=query["limit"],
                    cursor=query.get("cursor"),
                    min_position=min_position,
                    timeout=WAIT_SECONDS,
                )
        except (ViewsUnavailable, ViewsBehind) as exc:
            if linked_to is None:
                raise
            logger.debug("claims linked to %s from the log: %s", linked_to, exc)
            items, cursor = linked_claims_from_log(
                ledger_state().store, linked_to, filters=filters,
                updated_after=query.get("updated_after"), limit=query["limit"],
                cursor=query.get("cursor"),
            )
            return json_response({"items": items, "next": cursor}, headers={SOURCE: "log"})
        return json_response({"items": items, "next": cursor}, headers={SOURCE: "views"})

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.arguments(NewClaimSchema())
    @blp.response(201, RecordedClaimSchema, headers=WRITE_HEADERS)
    def post(self, headers: dict[str, str], body: EventBody) -> Response:
        """Record a claim (a ClaimRecorded event; the claim's id is new).

        The 201 carries ``similar``: up to three claims already recorded whose statement
        or quotes are close to this one (similarity at least 0.45), best first, so a
        client can warn of a duplicate. It is read from the search index after the
        append has committed (the new claim itself is not among them); an empty list
        when there are none, absent when the index cannot answer.
        """
        response = append_event("ClaimRecorded", new_uuid(), body, headers)
        if response.status_code == 201 and response.is_json:
            _add_similar(response, str(body.data.get("statement") or ""))
        return response


def _search(query: dict[str, Any], min_position: int | None) -> Response:
    """``GET /v1/claims?q=``: a page of the search index."""
    if query.get("linked_to"):
        raise Problem(422, "The request failed validation.", slug="validation-failed",
                      errors={"linked_to": ["Not combined with q: search, then list the links"
                                            " of the claim you found."]})
    page = search_service().search(query, min_position=min_position, timeout=WAIT_SECONDS)
    items = [{**hit.item, "snippet": hit.snippet, "score": hit.score} for hit in page.hits]
    return json_response({"items": items, "next": page.next}, headers={SOURCE: "search"})


def _add_similar(response: Response, statement: str) -> None:
    """Put ``similar`` into a new claim's 201 (left out when the index cannot answer)."""
    body = response.get_json()
    try:
        found = search_service().similar(statement, limit=SIMILAR_ON_RECORD + 1,
                                          threshold=SIMILAR_THRESHOLD)
    except (ViewsUnavailable, ViewsBehind) as exc:
        logger.info("no similar claims for the new claim: %s", exc)
        return
    new_id = body.get("claim_id")
    body["similar"] = [
        {"claim": s.item, "score": s.score} for s in found if s.item.get("id") != new_id
    ][:SIMILAR_ON_RECORD]
    response.set_data(json.dumps(body, ensure_ascii=False, separators=(",", ":")))


@blp.route("/similar")
class SimilarClaims(MethodView):
    """``/v1/claims/similar``."""

    @requires("reader")
    @blp.arguments(SimilarQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, SimilarSchema, headers=_SOURCE_HEADER)
    @blp.alt_response(503, **UNAVAILABLE_DOC)
    def get(self, query: dict[str, Any]) -> Response:
        """The claims whose statement or quotes are closest to ``statement``, best first.

        The score is trigram similarity (pg_trgm's measure, 0 to 1) against the claim's
        statement or its closest quote; voided claims are left out.
        """
        min_position = checked_min_position(query.get("min_position"))
        found = search_service().similar(
            query["statement"], limit=query["limit"], threshold=query["min_score"],
            min_position=min_position, timeout=WAIT_SECONDS,
        )
        items = [{"claim": s.item, "score": s.score} for s in found]
        return json_response({"items": items}, headers={SOURCE: "search"})


@blp.route("/<uuid:claim_id>")
class Claim(MethodView):
    """``/v1/claims/{id}``."""

    @requires("reader")
    @blp.arguments(ReadHeadersSchema(), location="headers")
    @blp.arguments(ClaimQuerySchema(), location="query", unknown=RAISE)
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
        if not events:
            raise ClaimNotFound(claim_id)
        # other claims' links to it, as the views would show them (``ledger.links``)
        inbound = linked_from(store, str(claim_id), as_of=as_of, valid_at=valid_at)
        headers = {SOURCE: "log"}
        if as_of is None and valid_at is None:
            redacted = sum(1 for e in events if e.data is None)
            tag = headers["ETag"] = linked_etag(etag(events[-1].version, redacted), inbound)
            unchanged = _not_modified(tag, "log")
            if unchanged is not None:
                return unchanged
        state = replay(events, valid_at=valid_at, scales=store.scales)
        if state is None:
            raise ClaimNotFound(claim_id)
        if inbound:
            state["linked_from"] = inbound
        return json_response(state, headers=headers)


@blp.route("/<uuid:claim_id>/history")
class History(MethodView):
    """``/v1/claims/{id}/history``."""

    @requires("reader")
    @blp.arguments(ReadHeadersSchema(), location="headers")
    @blp.arguments(HistoryQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, HistorySchema, headers={**_ETAG_HEADER, **_LINK_HEADER})
    @blp.alt_response(304, description="Not modified (If-None-Match named the current ETag)")
    def get(self, _headers: dict[str, Any], query: dict[str, Any], claim_id: UUID) -> Response:
        """A page of a claim's events in version order (those recorded by ``as_of``, if given).

        ``after`` and ``limit`` (at most 1000, the default) page through it as
        ``GET /v1/events`` pages the log: ask again with ``after=next_after``; a
        ``Link: rel=next`` header is present while more events follow. ``proofs=true``
        (auditor role) adds the signed checkpoint and, on each event, ``leaf_index`` and
        ``inclusion_proof`` against it.
        """
        store = ledger_state().store
        page = HistoryPage(str(claim_id), query)
        if not query.get("proofs"):
            envelopes = store.read_claim_json(
                page.claim_id, as_of=page.as_of, after=page.after, limit=page.limit + 1
            )
            more = page.check(envelopes)
            envelopes = envelopes[: page.limit]
            tag = envelopes_etag(envelopes) if envelopes else None
            headers = page.headers(tag, [v for v, _ in envelopes], more)
            unchanged = _not_modified(headers["ETag"], "log") if "ETag" in headers else None
            if unchanged is not None:
                return unchanged
            events = ",".join(text for _, text in envelopes)
            return json_text_response(
                f'{{"claim_id":"{claim_id}","events":[{events}],'
                f'"next_after":{page.next_after([v for v, _ in envelopes])}}}',
                headers=headers,
            )
        log.require_auditor()
        records = store.read_claim(
            page.claim_id, as_of=page.as_of, after=page.after, limit=page.limit + 1
        )
        more = page.check(records)
        records = records[: page.limit]
        versions = [e.version for e in records]
        body: dict[str, Any] = {"claim_id": page.claim_id, "events": []}
        if records:
            body.update(log.history_with_proofs(records))
        body["next_after"] = page.next_after(versions)
        redacted = sum(1 for e in records if e.data is None)
        tag = etag(versions[-1], redacted) if records else None
        return json_response(body, headers=page.headers(tag, versions, more))


class HistoryPage:
    """One page of ``/history``: its bounds, its 404, its ``next_after`` and headers."""

    def __init__(self, claim_id: str, query: dict[str, Any]) -> None:
        self.claim_id = claim_id
        self.query = query
        self.as_of: str | None = query.get("as_of")
        self.after: int = query["after"]
        self.limit: int = query["limit"]

    def check(self, rows: list[Any]) -> bool:
        """404 for a claim with no events (as of ``as_of``); whether more rows follow."""
        if not rows and (self.after == 0 or not ledger_state().store.claim_version(self.claim_id)):
            raise ClaimNotFound(self.claim_id)
        return len(rows) > self.limit

    def next_after(self, versions: list[int]) -> int:
        """The version to ask after for the next page."""
        return versions[-1] if versions else self.after

    def headers(self, tag: str | None, versions: list[int], more: bool) -> dict[str, str]:
        """``ETag`` (of the page, when not replaying) and ``Link: rel=next``."""
        headers: dict[str, str] = {}
        if self.as_of is None and tag is not None:
            headers["ETag"] = tag
        if more:
            args = {k: v for k, v in request.args.items() if k not in ("after", "limit")}
            args.update(after=str(versions[-1]), limit=str(self.limit))
            headers["Link"] = f'<{request.path}?{urlencode(args)}>; rel="next"'
        return headers
