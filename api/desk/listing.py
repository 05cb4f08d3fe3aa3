"""What the desk's pages read: the claim list (from the views), and a claim's history verified.

``list_claims`` reads the Redis views exactly as ``GET /v1/claims`` does, each row a
claim's summary, so the list never reads or folds the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.envelope import RecordedEvent
from ledger.store import EventStore
from ledger.verifier import VerificationResult, verify_history

from ..settings import Settings
from ..view_service import view_service
from .claimpage import current_state, history_page, voided_ids

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
    filters: Mapping[str, str], *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> ClaimPage:
    """Claims matching ``filters`` from the views (voided ones only when asked for), newest
    update first; raises ``ViewsUnavailable`` or ``InvalidQuery`` as the API's list does."""
    with view_service().reading() as reader:
        items, next_cursor = reader.list_claims(
            status=filters.get("status"), verdict=filters.get("verdict"),
            claimant=filters.get("claimant"), outlet=filters.get("outlet"),
            tag=filters.get("tag"), updated_after=filters.get("updated_after"),
            limit=limit, cursor=cursor, brief=True,
        )
    return ClaimPage(items, next_cursor)


@dataclass(frozen=True)
class Verification:
    """The desk's "verified" mark: what was checked and the result."""

    result: VerificationResult
    checkpoint_size: int | None
    origin: str | None
    note: str | None
    #: the log's verifier key the checkpoint's signature was checked with
    key: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.result.ok


def verify_claim(
    store: EventStore, settings: Settings, claim_id: str, events: Sequence[RecordedEvent],
    *, start_leaf: str | None = None,
) -> tuple[Verification, dict[int, dict[str, Any]]]:
    """Verify a page of a history with the auditor's verifier (linked to ``start_leaf``, the
    leaf before it); inclusion proofs too when the log is up.

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
    start = events[0].version - 1 if events else 0
    result = verify_history(documents, note, key, claim_id=claim_id, origin=origin,
                            start=start, start_leaf=start_leaf)
    size = result.checkpoint.size if result.checkpoint is not None else None
    return Verification(result, size, origin, note, key), proofs


@dataclass(frozen=True)
class VerifiedHistory:
    """A page of a claim's history verified, as the history page and the record show it."""

    events: list[RecordedEvent]
    #: the claim's last version
    total: int
    state: dict[str, Any] | None
    verification: Verification
    #: by position, each event's ``leaf_index`` and inclusion proof (none without the log)
    proofs: dict[int, dict[str, Any]]

    @property
    def voided(self) -> set[str]:
        """The ids of the entries the claim's state counts as voided."""
        return voided_ids(self.state)


def verified_history(store: EventStore, settings: Settings, claim_id: str, upto: int | None,
                     size: int) -> VerifiedHistory:
    """The ``size`` entries of a claim's history ending at version ``upto`` (the newest by
    default), verified from the entry before them, with the claim's current state."""
    events, total, start_leaf = history_page(store, claim_id, upto, size)
    verification, proofs = verify_claim(store, settings, claim_id, events, start_leaf=start_leaf)
    return VerifiedHistory(events, total, current_state(store, claim_id, total), verification,
                           proofs)
