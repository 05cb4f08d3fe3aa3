"""``linked_to=`` answered from the log while the views cannot: the claims linked to a
claim or from it, filtered, newest update first, paged with the views' own cursors.

The views read a claim's record and its inbound links (``workers.links.linked_claims``);
here the claim's own links come from folding its stream and the links to it from the
log's index of link targets (``ledger.links.linked_from``). Each other claim is folded
from its stream and kept, ordered and paged by the same index member, filters and
bounds the views use, so the two answers are the same and a cursor from one pages the
other. The claims linked to one claim are few, and each is read whole.
"""

from __future__ import annotations

import uuid
from typing import Any

from ledger.fold import fold, summarize
from ledger.links import given, linked_from
from ledger.store import EventStore
from ledger.timeutil import normalize_time

from .indexes import matches, member, wanted
from .views import MAX_LIMIT, InvalidQuery, decode_cursor, encode_cursor


def linked_claims_from_log(
    store: EventStore,
    linked_to: str,
    *,
    filters: dict[str, str | None],
    updated_after: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    brief: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """``ViewReader.list_claims(linked_to=…)`` from the log: ``(items, next_cursor)``.

    ``filters`` are the list's ``status``, ``verdict``, ``claimant``, ``outlet`` and
    ``tag``; a voided claim is kept only with ``status="voided"``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}")
    try:
        claim_id = str(uuid.UUID(linked_to))
    except ValueError:
        raise InvalidQuery("linked_to must be a claim id") from None
    names = wanted(filters)
    upper = decode_cursor(cursor) if cursor else None
    lower = None
    if updated_after:
        try:
            lower = normalize_time(updated_after) + "}"
        except ValueError as exc:
            raise InvalidQuery(f"updated_after: {exc}") from None
    others = {link["claim_id"] for link in linked_from(store, claim_id)}
    others |= {link["target"] for link in given(fold(store.read_claim(claim_id), store.scales))}
    others.discard(claim_id)
    rows: list[tuple[str, dict[str, Any]]] = []
    for other in sorted(others):
        state = fold(store.read_claim(other), store.scales)
        if state is None:
            continue
        m = member(state)
        if (upper is not None and m >= upper) or (lower is not None and m <= lower):
            continue
        if matches(state, names):
            rows.append((m, summarize(state) if brief else state))
    rows.sort(key=lambda row: row[0], reverse=True)
    page = rows[:limit]
    return [claim for _, claim in page], encode_cursor(page[-1][0]) if len(rows) > limit else None
