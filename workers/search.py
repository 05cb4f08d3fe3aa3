"""Keeping the search index: documents folded from the log, catch-up, rebuild, purge.

The index (``ledger.search``) is a projection like the views: the views' catch-up job of
a partition, once its batch is in Redis, brings the index's live generation of that
partition to the same head (``SearchProjector.run``), one SQL transaction per batch
that checks the partition's checkpoint and the redaction marker. A rebuild fills a new
generation beside the live one (its own RQ job, ``workers.jobs.rebuild_search``) and
switches once it is as far as the live one; the tick drops old generations, starts a
rebuild when there is none or the partitions changed, and resumes a dead one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ledger.envelope import RecordedEvent
from ledger.fold import fold, summarize
from ledger.scales import Scales
from ledger.search import Document, SearchIndex
from ledger.store import EventStore

from .config import partition_of
from .indexes import attributes
from .projector import GenerationGone, StreamCache

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def _names(*agents: Any) -> list[str]:
    return [str(a["name"]) for a in agents if isinstance(a, Mapping) and a.get("name")]


def document(state: Mapping[str, Any]) -> Document:
    """What the index holds of a folded claim: statement, people (claimant and the agents
    of its entries), body (quotes, outlets, notes, verdict, tags), similar text
    (statement and quotes), filter names and the list's summary. Voided entries are not
    in the state, nor is a redacted payload's text."""
    people = _names(state.get("claimant"))
    body: list[str] = []
    quotes: list[str] = []

    def appearance(a: Mapping[str, Any] | None) -> None:
        if not a:
            return
        body.extend(str(a[k]) for k in ("outlet", "quote") if a.get(k))
        if a.get("quote"):
            quotes.append(" ".join(str(a["quote"]).split()))

    for entry in state.get("appearances") or ():
        appearance(entry)
    for key in ("corroborations", "denials"):
        for entry in state.get(key) or ():
            people += _names(entry.get("by"))
            appearance(entry.get("appearance"))
            if entry.get("note"):
                body.append(str(entry["note"]))
    retraction = state.get("retraction")
    if retraction:
        people += _names(retraction.get("by"))
        appearance(retraction.get("appearance"))
        if retraction.get("note"):
            body.append(str(retraction["note"]))
    for note in state.get("notes") or ():
        if note.get("text"):
            body.append(str(note["text"]))
    verdict = state.get("verdict")
    if verdict:
        people += _names(verdict.get("reviewer"))
        body.extend(str(verdict[k]) for k in ("label", "explanation") if verdict.get(k))
    body.extend(str(t) for t in state.get("tags") or ())
    statement = str(state.get("statement") or "")
    return Document(
        claim_id=str(state["id"]),
        statement=statement,
        people="\n".join(dict.fromkeys(people)),
        body="\n".join(body),
        similar_text="\n".join([" ".join(statement.split()), *dict.fromkeys(quotes)]),
        attrs=tuple(sorted(attributes(state))),
        updated_at=str(state["updated_at"]),
        summary=json.dumps(summarize(state), ensure_ascii=False, separators=(",", ":")),
    )


class SearchProjector:
    """Folds batches of the log into one generation of the search index."""

    def __init__(self, index: SearchIndex, store: EventStore, scales: Scales,
                 cache_events: int = 200_000) -> None:
        self.index, self.store, self.scales = index, store, scales
        self.cache = StreamCache(cache_events)
        self.events_applied = 0
        self._marker: dict[int, int] = {}

    def run(
        self, generation: int, partitions: int, mine: Sequence[int], *, batch_size: int,
        until: int | None = None, on_batch: Progress | None = None,
    ) -> int:
        """Apply the log to partitions ``mine`` up to the head (or ``until``); returns the
        lowest checkpoint reached. Raises ``GenerationGone`` if the generation is."""
        cps = self._checkpoints(generation, partitions, mine)
        while True:
            after = min(cps.values())
            if until is not None and after >= until:
                break
            marker = self.index.marker(generation)  # before the log is read: see purge
            if self._marker.get(generation, marker) != marker:
                self.cache.clear()
            self._marker[generation] = marker
            limit = batch_size if until is None else min(batch_size, until - after)
            page = self.store.read_all(after, limit)
            if not page:
                break
            end = page[-1].position
            slices: dict[int, list[RecordedEvent]] = {p: [] for p in mine}
            for event in page:
                p = partition_of(event.claim_id, partitions)
                if p in slices and event.position > cps[p]:
                    slices[p].append(event)
            moved = True
            for p in mine:
                if cps[p] >= end:
                    continue
                docs = self.documents(slices[p], end)
                if self.index.apply(generation, p, cps[p], end, marker, docs):
                    cps[p] = end
                    self.events_applied += len(slices[p])
                else:
                    moved = False
            if not moved:  # another job got there first, or a purge moved the marker
                self.cache.clear()
                cps = self._checkpoints(generation, partitions, mine)
                continue
            if on_batch is not None:
                on_batch(len(page), end)
        return min(cps.values())

    def _checkpoints(self, generation: int, partitions: int, mine: Sequence[int]
                     ) -> dict[int, int]:
        found = self.index.checkpoints(generation)
        if len(found) != partitions or any(found[p] is None for p in mine):
            raise GenerationGone(f"search generation {generation} is gone")
        return {p: int(found[p] or 0) for p in mine}

    def documents(self, events: Sequence[RecordedEvent], end: int) -> dict[str, Document | None]:
        """The document of every claim the events touch, as of position ``end``."""
        touched: dict[str, list[RecordedEvent]] = {}
        for event in events:
            touched.setdefault(event.claim_id, []).append(event)
        docs: dict[str, Document | None] = {}
        for claim_id, new in touched.items():
            state = fold(self.cache.stream(self.store, claim_id, new, end), self.scales)
            docs[claim_id] = None if state is None else document(state)
        return docs


def catch_up_search(index: SearchIndex, store: EventStore, scales: Scales, partition: int,
                    *, batch_size: int, until: int | None = None) -> int | None:
    """Bring the live generation's partition to the head (or ``until``); its checkpoint,
    None when there is no live generation with that partition (the tick rebuilds)."""
    live = index.live()
    if live is None or partition >= live.partitions:
        return None
    projector = SearchProjector(index, store, scales)
    try:
        return projector.run(live.generation, live.partitions, [partition],
                             batch_size=batch_size, until=until)
    except GenerationGone:
        return None


def rebuild_search(index: SearchIndex, store: EventStore, scales: Scales, partitions: int, *,
                   batch_size: int, on_batch: Progress | None = None) -> tuple[int, int]:
    """Fill a new generation (or resume one being built with these partitions) to the head
    and past the live one, then switch to it; returns (generation, position reached)."""
    building = index.building()
    if building is None or building.partitions != partitions:
        building = index.create_generation(partitions)
    projector = SearchProjector(index, store, scales)
    parts = list(range(partitions))
    started = time.perf_counter()
    while True:
        head = store.head()
        reached = projector.run(building.generation, partitions, parts, batch_size=batch_size,
                                on_batch=on_batch)
        live = index.live()
        live_cps = [c or 0 for c in index.checkpoints(live.generation)] if live else []
        if reached >= head and all(c <= reached for c in live_cps):
            break
    index.switch(building.generation)
    log.info("search generation %s is live (%s events, %.1f s)", building.generation, reached,
             time.perf_counter() - started)
    return building.generation, reached


def drop_old(index: SearchIndex) -> list[int]:
    """Delete the generations a switch left behind; returns them."""
    old = [g.generation for g in index.generations() if g.state == "old"]
    for generation in old:
        index.drop(generation)
    return old


def purge_search(index: SearchIndex, store: EventStore, scales: Scales, claim_id: str
                 ) -> list[int]:
    """After a redaction: rewrite the claim, folded without the payload, in every
    generation (each as of its partition's checkpoint); returns the generations."""
    def at(cp: int) -> Document | None:  # called inside the index's transaction
        state = fold([e for e in store.read_claim(claim_id) if e.position <= cp], scales)
        return None if state is None else document(state)

    done = []
    for generation in index.generations():
        if index.purge(generation.generation, partition_of(claim_id, generation.partitions),
                       claim_id, at):
            done.append(generation.generation)
    return done
