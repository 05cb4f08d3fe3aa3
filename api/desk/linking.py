"""The desk's links between claims: what a claim page shows of them (both ways), and
finding the other claim by searching the claim list, so an editor never types an id.

The linked claims are read from the views as ``GET /v1/claims?linked_to=`` reads them, or
folded from the log while the views cannot answer (the claims linking here found through
the log's index of link targets, ``ledger.links``); the candidates come from the search
index as ``GET /v1/claims?q=`` finds them, and while the index cannot answer (being
built) from the newest ``SCAN`` claims' summaries whose statement or claimant holds
every word typed (case and accents aside).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.fold import fold, summarize
from ledger.search.base import InvalidSearch
from ledger.store import EventStore
from workers.views import InvalidQuery, ViewsBehind, ViewsUnavailable

from ..search import search_service
from ..view_service import view_service
from .forms import LINK_CHOICES

log = logging.getLogger("api.desk")

#: how many of the newest claims a search reads (without a full-text index)
SCAN = 2000
#: how many candidates a search shows
FOUND = 10
#: how many linked claims a page folds from the log while the views cannot answer
FROM_LOG = 50
_KINDS = dict(LINK_CHOICES)
#: how the other claim's link reads from this claim's side
_INBOUND = {"same-as": "Same claim as", "restates": "Restated by",
            "responds-to": "Answered by", "contradicts": "Contradicted by"}


@dataclass
class Linked:
    """One link as a claim page shows it: which way, how, and the other claim."""

    event_id: str
    claim_id: str
    outbound: bool
    kind: str
    note: str | None = None
    other: dict[str, Any] | None = None

    @property
    def wording(self) -> str:
        """"Restates", or from the other side "Restated by"."""
        return _KINDS.get(self.kind, self.kind) if self.outbound else _INBOUND.get(
            self.kind, self.kind)


@dataclass
class Links:
    """A claim's links both ways; ``complete`` is False when some other claim could be
    named only by its id (the views could not answer, and past ``FROM_LOG`` claims)."""

    items: list[Linked] = field(default_factory=list)
    complete: bool = True


def claim_links(store: EventStore, claim_id: str, state: Mapping[str, Any] | None) -> Links:
    """The claim's links to others (its state's ``links``) and theirs to it
    (``linked_from``: from the views, or the log when it folded the state), each with the
    other claim's summary: from the views, else folded from the log."""
    if not state:
        return Links()
    links = Links([Linked(x["event_id"], x["target_claim_id"], True, x["kind"], x.get("note"))
                   for x in state.get("links") or ()])
    links.items += [Linked(x["event_id"], x["claim_id"], False, x["kind"])
                    for x in state.get("linked_from") or ()]
    try:
        with view_service().reading() as reader:
            found, _ = reader.list_claims(linked_to=claim_id, limit=200, brief=True)
            voided, _ = reader.list_claims(linked_to=claim_id, status="voided", limit=200,
                                           brief=True)
            others = {item["id"]: item for item in (*found, *voided)}
            for link in links.items:
                # a link just made may not be in the views yet: its other claim is
                link.other = others.get(link.claim_id) or reader.get_summary(link.claim_id)
    except (ViewsUnavailable, ViewsBehind, InvalidQuery) as exc:
        log.debug("claim %s: linked claims folded from the log (%s)", claim_id, exc)
        _others_from_log(store, links)
    return links


def _others_from_log(store: EventStore, links: Links) -> None:
    """Each link's other claim summarised from the log (the first ``FROM_LOG`` claims)."""
    folded: dict[str, dict[str, Any] | None] = {}
    for link in links.items:
        if link.claim_id not in folded:
            if len(folded) >= FROM_LOG:
                links.complete = False
                continue
            state = fold(store.read_claim(link.claim_id), store.scales)
            folded[link.claim_id] = None if state is None else summarize(state)
        link.other = folded[link.claim_id]


def _folded(text: str) -> str:
    """Text without case or accents, for matching what an editor types."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def find_claims(query: str, claim_id: str) -> list[dict[str, Any]]:
    """Claims (their summaries) matching ``query``, this claim left out: the search index's
    best matches (``GET /v1/claims?q=``), or while it cannot answer, those whose statement
    or claimant holds every word, newest update first; raises ``ViewsUnavailable``."""
    if not _folded(query).split():
        return []
    try:
        page = search_service().search({"q": query, "limit": FOUND + 1},
                                       min_position=None, timeout=0.0)
    except (ViewsUnavailable, ViewsBehind, InvalidSearch) as exc:
        log.info("desk: links searched without the index (%s)", exc)
        return _scan(query, claim_id)
    return [hit.item for hit in page.hits if hit.item.get("id") != claim_id][:FOUND]


def _scan(query: str, claim_id: str) -> list[dict[str, Any]]:
    """The newest ``SCAN`` claims whose statement or claimant holds every word of ``query``."""
    words = _folded(query).split()
    found: list[dict[str, Any]] = []
    cursor = None
    read = 0
    with view_service().reading() as reader:
        while read < SCAN and len(found) < FOUND:
            items, cursor = reader.list_claims(limit=200, cursor=cursor, brief=True)
            read += len(items)
            for item in items:
                text = _folded(" ".join((str(item.get("statement") or ""),
                                         str((item.get("claimant") or {}).get("name") or ""))))
                if item["id"] != claim_id and all(word in text for word in words):
                    found.append(item)
            if cursor is None:
                break
    return found[:FOUND]
