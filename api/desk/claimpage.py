"""What a claim's desk pages read, at a cost that does not grow with the claim.

A claim page shows one page of ``PAGE_SIZE`` entries (``upto``: the last version shown,
the newest page by default), the claim's state from the views (folded from the log only
when the views cannot answer or lag behind the claim, with the other claims' links to
it read from the log's index of link targets), its corrections (read on their
own) and a timeline that draws each entry up to ``AGGREGATE_ABOVE`` entries and a
histogram beyond. The changes fragment and the history page read pages the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from ledger.envelope import RecordedEvent
from ledger.errors import ClaimNotFound
from ledger.fold import fold, recent
from ledger.links import linked_from
from ledger.store import EventStore
from workers.views import ViewsBehind, ViewsUnavailable

from ..view_service import view_service
from .forms import desk_forms
from .histogram import render_histogram
from .timeline import render_timeline

log = logging.getLogger("api.desk")

#: entries on one claim page (and one changes fragment)
PAGE_SIZE = 50
#: entries on one page of the desk's history
HISTORY_PAGE = 100
#: above this many entries the timeline is a histogram, not a marker per entry
AGGREGATE_ABOVE = 200


@dataclass
class ClaimPage:
    """One page of a claim: its state, the entries shown and what they link to."""

    claim_id: str
    state: dict[str, Any] | None
    events: list[RecordedEvent]
    total: int
    voided: set[str] = field(default_factory=set)
    by_id: dict[str, RecordedEvent] = field(default_factory=dict)
    corrected: dict[str, list[RecordedEvent]] = field(default_factory=dict)
    timeline: Markup = field(default_factory=Markup)

    @property
    def first(self) -> int:
        """The first version shown (0 when none)."""
        return self.events[0].version if self.events else 0

    @property
    def last(self) -> int:
        """The last version shown (0 when none)."""
        return self.events[-1].version if self.events else 0

    @property
    def older(self) -> int | None:
        """``upto`` of the page before this one, if any."""
        return self.first - 1 if self.first > 1 else None

    @property
    def newer(self) -> int | None:
        """``upto`` of the page after this one, if any."""
        return min(self.last + PAGE_SIZE, self.total) if self.last < self.total else None


def current_state(store: EventStore, claim_id: str, version: int) -> dict[str, Any] | None:
    """The claim's recent state (``ledger.fold.recent``) at ``version``: from the views when
    they hold that version, else folded from the log."""
    try:
        with view_service().reading() as reader:
            state = reader.get_recent(claim_id)
        if state is not None and state.get("version") == version:
            return state
    except (ViewsUnavailable, ViewsBehind) as exc:
        log.debug("claim %s folded from the log: %s", claim_id, exc)
    return from_log(store, claim_id, fold(store.read_claim(claim_id), store.scales))


def from_log(
    store: EventStore, claim_id: str, folded: dict[str, Any] | None, *,
    as_of: str | None = None, valid_at: str | None = None,
) -> dict[str, Any] | None:
    """A state folded from the log as a claim page shows it (``recent``), with the other
    claims' links to it (``linked_from``) read from the log as the views would give them."""
    if folded is None:
        return None
    inbound = linked_from(store, claim_id, as_of=as_of, valid_at=valid_at)
    if inbound:
        folded["linked_from"] = inbound
    return recent(folded)


def voided_ids(state: dict[str, Any] | None) -> set[str]:
    """The ids of the entries a claim's state counts as voided."""
    return set(state["voided_event_ids"]) if state else set()


def claim_page(
    store: EventStore, claim_id: str, *, upto: int | None = None, as_of: str | None = None,
    valid_at: str | None = None,
) -> ClaimPage:
    """The page of entries ending at version ``upto`` (the newest by default); with
    ``as_of`` and/or ``valid_at``, the bitemporal replay (``ledger.fold.replay``): the
    entries recorded by ``as_of`` that occurred by ``valid_at`` (corrections, being about
    the record, whenever they occurred)."""
    if as_of is None and valid_at is None:
        total = store.claim_version(claim_id)
        if not total:
            raise ClaimNotFound(claim_id)
        state = current_state(store, claim_id, total)
        whole: list[RecordedEvent] | None = None
    else:  # a replay folds what was recorded by then: the one read that grows
        whole = store.read_claim(claim_id, as_of=as_of) if as_of else store.read_claim(claim_id)
        if not whole and not store.claim_version(claim_id):
            raise ClaimNotFound(claim_id)
        whole = [e for e in whole if valid_at is None or e.type == "EntryCorrected"
                 or e.occurred_at <= valid_at]
        total = len(whole)
        state = from_log(store, claim_id, fold(whole, store.scales), as_of=as_of,
                             valid_at=valid_at)
    last = total if upto is None else max(1, min(upto, total))
    first = max(1, last - PAGE_SIZE + 1)
    if whole is not None:
        events = whole[first - 1:last]
    else:
        events = store.read_claim(claim_id, after=first - 1, limit=last - first + 1)
    page = ClaimPage(claim_id, state, events, total)
    page.voided = voided_ids(state)
    _link_corrections(store, page, as_of, whole)
    if total <= AGGREGATE_ABOVE:
        drawn = whole if whole is not None else store.read_claim(claim_id, limit=total)
        page.timeline = render_timeline(drawn, page.voided, desk_forms().styles)
    else:
        page.timeline = render_histogram((state or {}).get("histogram"), total)
    return page


def _link_corrections(store: EventStore, page: ClaimPage, as_of: str | None,
                      whole: list[RecordedEvent] | None = None) -> None:
    """Which shown entries were corrected (and by what), and each shown correction's target."""
    page.by_id = {e.id: e for e in page.events}
    if whole is not None:  # a replay: its corrections are among the events replayed
        corrections = [c for c in whole if c.type == "EntryCorrected"]
    else:
        corrections = [
            c for c in store.claim_corrections(page.claim_id)
            if c.version <= page.total and (as_of is None or c.recorded_at <= as_of)
        ]
    for correction in corrections:
        target = (correction.data or {}).get("target_event_id")
        if target in page.by_id:
            page.corrected.setdefault(target, []).append(correction)
    for event in page.events:
        target = (event.data or {}).get("target_event_id")
        if event.type == "EntryCorrected" and target and target not in page.by_id:
            found = store.get_event(str(target))
            if found is not None and found.claim_id == page.claim_id:
                page.by_id[found.id] = found


def changes(store: EventStore, claim_id: str, after: int) -> ClaimPage:
    """The entries recorded after version ``after`` (at most ``PAGE_SIZE``), with the state."""
    total = store.claim_version(claim_id)
    if not total:
        raise ClaimNotFound(claim_id)
    events = store.read_claim(claim_id, after=after, limit=PAGE_SIZE) if after < total else []
    page = ClaimPage(claim_id, current_state(store, claim_id, total), events, total)
    page.voided = voided_ids(page.state)
    _link_corrections(store, page, None)
    return page


def history_page(
    store: EventStore, claim_id: str, upto: int | None, size: int = HISTORY_PAGE
) -> tuple[list[RecordedEvent], int, str | None]:
    """A page of ``size`` entries of the history ending at ``upto`` (the newest by default),
    the claim's last version, and the leaf hash the page's first event links to (None from
    version 1)."""
    total = store.claim_version(claim_id)
    if not total:
        raise ClaimNotFound(claim_id)
    last = total if upto is None else max(1, min(upto, total))
    first = max(1, last - size + 1)
    before = store.read_claim(claim_id, after=first - 2, limit=1) if first > 1 else []
    events = store.read_claim(claim_id, after=first - 1, limit=last - first + 1)
    return events, total, before[0].leaf_hash if before else None
