"""The write path: one request, one append, with If-Match and Idempotency-Key honoured."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response, g, request

from ledger.envelope import NewEvent, RecordedEvent
from ledger.errors import ValidationFailed
from ledger.ids import new_uuid
from ledger.store import Idempotency, fingerprint

from .auth import principal
from .credentials import Principal
from .errors import body_paths
from .parsing import idempotency_key, if_match
from .responses import etag, json_response
from .schemas import EventBody
from .state import LedgerState, ledger_state

log = logging.getLogger("api.writing")

#: set on a 201 that repeats an earlier answer for the same Idempotency-Key
REPLAYED_HEADER = "Idempotency-Replayed"


def request_metadata(key: str | None, request_id: str | None = None) -> dict[str, Any]:
    """What the events of this request carry in ``metadata`` (``request_id``: ``g``'s)."""
    metadata: dict[str, Any] = {"request_id": g.request_id if request_id is None else request_id}
    if key is not None:
        metadata["idempotency_key"] = key
    return metadata


def request_route() -> tuple[str, dict[str, str]]:
    """The request's URL rule and path arguments (as text)."""
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return rule, {name: str(value) for name, value in (request.view_args or {}).items()}


def request_fingerprint(body: Any) -> str:
    """Fingerprint of (method, route, path arguments, body) for idempotency checks."""
    return route_fingerprint(request.method, *request_route(), body)


def route_fingerprint(method: str, rule: str, arguments: Mapping[str, str], body: Any) -> str:
    """Fingerprint of (method, URL rule, path arguments, body)."""
    return fingerprint({"method": method, "route": rule, "args": arguments, "body": body})


def after_append(events: Sequence[RecordedEvent], state: LedgerState | None = None) -> None:
    """Count what was written and run the app's append hooks (which must not fail the write)."""
    state = state or ledger_state()
    for event in events:
        state.metrics.appended(event.type)
    for hook in state.append_hooks:
        try:
            hook(events)
        except Exception:  # the events are committed: a failing hook must not turn that into a 500
            log.exception("append hook %r failed", hook)


#: how a write's 201 is documented
WRITE_HEADERS = {
    "Location": {"description": "/v1/claims/{claim_id}", "schema": {"type": "string"}},
    "ETag": {"description": 'The claim\'s new version, quoted: "3"', "schema": {"type": "string"}},
}


def append_event(
    event_type: str, claim_id: str, body: EventBody, headers: Mapping[str, str]
) -> Response:
    """Append one event from a validated body; 201 with the envelope, Location and ETag."""
    event, fresh = append_entry(
        request_route(),
        event_type,
        claim_id,
        body,
        if_match(headers.get("if_match")),
        idempotency_key(headers.get("idempotency_key")),
    )
    return json_response(event.to_json(), 201, created_headers(event, fresh))


def append_entry(
    route: tuple[str, Mapping[str, str]],
    event_type: str,
    claim_id: str,
    body: EventBody,
    expected: int | None,
    key: str | None,
    caller: tuple[LedgerState, Principal, str] | None = None,
) -> tuple[RecordedEvent, bool]:
    """Append one event to ``claim_id`` as the caller; the event, and whether it is new.

    ``route`` (the URL rule and its path arguments) is part of the idempotency
    fingerprint, with the body. A repeated
    Idempotency-Key answers the original event (not new); new events run the append hooks.
    ``caller`` is the app's state, the principal and the request id, when the caller has
    them at hand (the append lane); else they come from the app and ``g``.
    """
    state, who, request_id = caller or (ledger_state(), principal(), None)
    event_id = new_uuid()
    new = NewEvent(
        claim_id, event_type, body.data, body.occurred_at, request_metadata(key, request_id),
        event_id,
    )
    idempotency = None
    if key is not None:
        whole = {"data": body.data, "occurred_at": body.occurred_at}
        idempotency = Idempotency(key, route_fingerprint("POST", *route, whole))
    expected_versions: Mapping[str, int] | None = None
    if expected is not None:
        expected_versions = {claim_id: expected}
    try:
        events = state.store.append(
            [new],
            actor=who.actor,
            expected_versions=expected_versions,
            idempotency=idempotency,
        )
    except ValidationFailed as exc:
        raise ValidationFailed(str(exc), body_paths(exc.errors)) from None
    event = events[0]
    fresh = event.id == event_id
    if fresh:
        after_append(events, state)
    return event, fresh


def created_headers(event: RecordedEvent, fresh: bool) -> dict[str, str]:
    """The headers of a write's 201 besides the content: Location, ETag, replay marker."""
    headers = {"Location": f"/v1/claims/{event.claim_id}", "ETag": etag(event.version)}
    if not fresh:
        headers[REPLAYED_HEADER] = "true"
    return headers
