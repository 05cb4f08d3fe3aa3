"""Links between claims as the claim they name shows them: other claims' active links to it.

A ``ClaimLinked`` belongs to the stream of the claim that links (the source) and names
another claim (the target), which shows it as ``linked_from``. The views keep these per
target (``workers.links``); the log gives the same answer (``linked_from``) from its index
of link targets (``store.links``). Which of a source's links count is the fold's to say:
a voided or redacted link gives nothing, nor does a voided source, and a corrected
``kind`` is the one shown. The fold of a source's record, its corrections and its links
to the target says that exactly as the fold of its whole stream would (no other entry
bears on them), so the answer costs two index reads per source (two statements for up to
200 sources), however long their streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .fold import replay

if TYPE_CHECKING:
    from .store import EventStore


def given(state: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The links a claim shows on others (each with its ``target``): its active links,
    none while it is voided."""
    if state is None or state.get("status") == "voided":
        return []
    return [
        {"event_id": link["event_id"], "claim_id": state["id"], "kind": link["kind"],
         "occurred_at": link["occurred_at"], "target": link["target_claim_id"]}
        for link in state.get("links") or ()
    ]


def inbound_order(link: Mapping[str, Any]) -> tuple[str, str]:
    """The order ``linked_from`` lists links in: oldest first (``occurred_at``), then by id."""
    return str(link["occurred_at"]), str(link["event_id"])


def linked_from(
    store: EventStore, claim_id: str, *, as_of: str | None = None, valid_at: str | None = None,
) -> list[dict[str, Any]]:
    """Other claims' active links to ``claim_id`` as ``{event_id, claim_id, kind,
    occurred_at}``, oldest first: what the views show, from the log; with ``as_of`` and
    ``valid_at`` as each source's bitemporal replay (``ledger.fold.replay``) says."""
    by_source: dict[str, list[Any]] = {}
    for event in store.links.links_to(claim_id, as_of=as_of):
        by_source.setdefault(event.claim_id, []).append(event)
    for entry in store.links.source_entries(list(by_source), as_of=as_of):
        by_source[entry.claim_id].append(entry)
    found: list[dict[str, Any]] = []
    for events in by_source.values():
        state = replay(events, valid_at=valid_at, scales=store.scales)
        for link in given(state):
            if link.pop("target") == claim_id:
                found.append(link)
    return sorted(found, key=inbound_order)
