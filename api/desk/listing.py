"""What the desk's pages read: the claim list, and a claim's history verified.

``list_claims`` folds every claim from the log. It filters exactly as the Redis views
do (``workers.indexes``) and pages with the same cursors, so it can be switched to
``workers.views.ViewReader.list_claims`` once ``GET /v1/claims`` reads from the views.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.envelope import RecordedEvent
from ledger.fold import fold
from ledger.store import EventStore
from ledger.timeutil import normalize_time
from ledger.verifier import VerificationResult, verify_history
from workers.indexes import matches, member, wanted
from workers.views import InvalidQuery, decode_cursor, encode_cursor

from ..settings import Settings

log = logging.getLogger("api.desk")

#: the list's filters, as in ``GET /v1/claims``
FILTERS = ("status", "verdict", "claimant", "outlet", "tag", "updated_after")
PAGE_SIZE = 50


@dataclass(frozen=True)
class ClaimPage:
    """One page of the claim list, newest update first."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def list_claims(
    store: EventStore, filters: Mapping[str, str], *, cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> ClaimPage:
    """Claims matching ``filters`` (voided ones only when asked for), newest update first."""
    streams: dict[str, list[RecordedEvent]] = {}
    for event in store.iter_all():
        streams.setdefault(event.claim_id, []).append(event)
    names = wanted({k: v for k, v in filters.items() if k != "updated_after"})
    after = filters.get("updated_after") or ""
    if after:
        try:
            after = normalize_time(after)
        except ValueError:
            after = ""
    upper = None
    if cursor:
        try:
            upper = decode_cursor(cursor)
        except InvalidQuery:
            upper = None
    states = []
    for events in streams.values():
        state = fold(events, store.scales)
        if state is None or not matches(state, names) or state["updated_at"] <= after:
            continue
        if upper is not None and member(state) >= upper:
            continue
        states.append(state)
    states.sort(key=member, reverse=True)
    page = states[:limit]
    more = len(states) > limit
    return ClaimPage(page, encode_cursor(member(page[-1])) if more and page else None)


@dataclass(frozen=True)
class Verification:
    """The desk's "verified" mark: what was checked and the result."""

    result: VerificationResult
    checkpoint_size: int | None
    origin: str | None
    note: str | None

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.result.ok


def verify_claim(
    store: EventStore, settings: Settings, claim_id: str, events: Sequence[RecordedEvent]
) -> tuple[Verification, dict[int, dict[str, Any]]]:
    """Verify a history with the auditor's verifier; inclusion proofs too when the log is up.

    Returns the verification and, by position, each event's ``leaf_index`` and proof.
    """
    proofs: dict[int, dict[str, Any]] = {}
    note = key = origin = None
    try:
        from ledger.log import LogService

        service = LogService.open(store, settings.signing_key, settings.log_origin)
        checkpoint, proofs = service.event_proofs(events)
        note, key, origin = checkpoint.note, service.verifier_key, service.origin
    except Exception as exc:  # no signing key, no tree yet: verify the chain alone
        log.info("desk: history of %s verified without proofs (%s)", claim_id, exc)
        proofs = {}
    documents = [{**e.to_json(), **proofs.get(e.position, {})} for e in events]
    result = verify_history(documents, note, key, claim_id=claim_id, origin=origin)
    size = result.checkpoint.size if result.checkpoint is not None else None
    return Verification(result, size, origin, note), proofs
