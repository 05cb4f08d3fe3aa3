"""The fold: one pure function from a claim's events to its current state.

The API's as-of replay and the workers' views both call ``fold``/``replay``, so they
cannot disagree. What each event type adds to the state is its rule in ``RULES``, the
one table the fold dispatches on. No I/O here.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from . import axis
from .scales import DEFAULT_SCALES, Scales


class FoldableEvent(Protocol):
    """What the fold needs of an event (``RecordedEvent`` satisfies it)."""

    @property
    def id(self) -> str: ...
    @property
    def claim_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def data(self) -> Mapping[str, Any] | None: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def recorded_at(self) -> str: ...


@dataclass(slots=True)
class Effects:
    """What a claim's ``EntryCorrected`` events do to the entries they target."""

    voided: set[str] = field(default_factory=set)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def corrections(events: Sequence[FoldableEvent]) -> Effects:
    """Apply every ``EntryCorrected`` in order: voids, corrections, clarifications."""
    effects = Effects()
    present = {e.id: e for e in events}
    for event in events:
        if event.type != "EntryCorrected" or event.data is None:
            continue
        target_id = event.data["target_event_id"]
        target = present.get(target_id)
        if target is None or target.type == "EntryCorrected" or target_id in effects.voided:
            continue
        kind = event.data["kind"]
        effects.notes.setdefault(target_id, []).append(
            {
                "event_id": event.id,
                "kind": kind,
                "reason": event.data.get("reason"),
                "recorded_at": event.recorded_at,
            }
        )
        if kind == "void":
            effects.voided.add(target_id)
        elif kind == "correction":
            base = effects.data.get(target_id, dict(target.data or {}))
            effects.data[target_id] = {**base, **(event.data.get("changes") or {})}
    return effects


def current_data(event: FoldableEvent, effects: Effects) -> dict[str, Any]:
    """An entry's payload with its corrections applied (empty if redacted)."""
    return effects.data.get(event.id, dict(event.data or {}))


def as_entry(event: FoldableEvent, data: Mapping[str, Any], effects: Effects) -> dict[str, Any]:
    """An entry of a claim's state: the event's id, its data, when it occurred, and the
    corrections made to it."""
    entry = {"event_id": event.id, **data, "occurred_at": event.occurred_at}
    if event.id in effects.notes:
        entry["corrections"] = effects.notes[event.id]
    return entry


@dataclass(slots=True)
class Tally:
    """What the fold gathers from a claim's active entries, in version order."""

    appearances: list[dict[str, Any]] = field(default_factory=list)
    corroborations: list[dict[str, Any]] = field(default_factory=list)
    denials: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    retraction: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None


#: a fold rule: what one active entry (its payload as corrected) adds to the tally
Rule = Callable[[Tally, FoldableEvent, dict[str, Any], Effects, Scales], None]


def _appearance(t: Tally, e: FoldableEvent, data: dict[str, Any], fx: Effects, _: Scales) -> None:
    if "appearance" in data:
        t.appearances.append(as_entry(e, data["appearance"], fx))


def _corroboration(t: Tally, e: FoldableEvent, data: dict[str, Any], fx: Effects, _: Scales
                   ) -> None:
    t.corroborations.append(as_entry(e, data, fx))


def _denial(t: Tally, e: FoldableEvent, data: dict[str, Any], fx: Effects, _: Scales) -> None:
    t.denials.append(as_entry(e, data, fx))


def _retraction(t: Tally, e: FoldableEvent, data: dict[str, Any], fx: Effects, _: Scales
                ) -> None:
    t.retraction = as_entry(e, data, fx)


def _note(t: Tally, e: FoldableEvent, data: dict[str, Any], fx: Effects, _: Scales) -> None:
    t.notes.append(as_entry(e, data, fx))


def _link(t: Tally, e: FoldableEvent, data: dict[str, Any], fx: Effects, _: Scales) -> None:
    if "target_claim_id" in data:  # a redacted link is gone
        t.links.append(as_entry(e, data, fx))


def _verdict_rule(t: Tally, e: FoldableEvent, data: dict[str, Any], _: Effects, scales: Scales
                  ) -> None:
    # a redacted verdict says nothing, and the one it replaced stays replaced
    t.verdict = None if e.data is None else _verdict(e, data, scales)


#: the fold's rule for each event type (``EntryCorrected`` works through ``corrections``)
RULES: dict[str, Rule] = {
    "ClaimRecorded": _appearance,
    "AppearanceAdded": _appearance,
    "ClaimCorroborated": _corroboration,
    "ClaimDenied": _denial,
    "ClaimRetracted": _retraction,
    "NoteAdded": _note,
    "ClaimLinked": _link,
    "VerdictIssued": _verdict_rule,
}


def fold(
    events: Iterable[FoldableEvent], scales: Scales = DEFAULT_SCALES
) -> dict[str, Any] | None:
    """Fold a claim's events (in version order) into its state; None if not recorded."""
    ordered = sorted(events, key=lambda e: e.version)
    recorded = next((e for e in ordered if e.type == "ClaimRecorded"), None)
    if recorded is None:
        return None
    effects = corrections(ordered)
    active = [e for e in ordered if e.id not in effects.voided]
    claim = current_data(recorded, effects)

    tally = Tally()
    for event in active:
        rule = RULES.get(event.type)
        if rule is not None:
            rule(tally, event, current_data(event, effects), effects, scales)
    appearances, corroborations, denials = tally.appearances, tally.corroborations, tally.denials
    retraction = tally.retraction

    if recorded.id in effects.voided:
        status = "voided"
    elif retraction is not None:
        status = "retracted"
    elif corroborations and denials:
        status = "disputed"
    elif corroborations:
        status = "corroborated"
    elif denials:
        status = "denied"
    else:
        status = "unverified"

    last = ordered[-1]
    return {
        "id": recorded.claim_id,
        "statement": claim.get("statement"),
        "claimant": claim.get("claimant"),
        "language": claim.get("language"),
        "tags": list(claim.get("tags") or []),
        "appearances": appearances,
        "first_appearance": _first(appearances),
        "status": status,
        "verdict": tally.verdict,
        "corroborations": corroborations,
        "denials": denials,
        "retraction": retraction,
        "notes": tally.notes,
        "links": tally.links,
        "counts": {
            "corroborations": len(corroborations),
            "denials": len(denials),
            "appearances": len(appearances),
        },
        "voided_event_ids": sorted(effects.voided),
        "redacted_event_ids": sorted(e.id for e in ordered if e.data is None),
        "version": last.version,
        "created_at": recorded.recorded_at,
        "updated_at": last.recorded_at,
    }


#: what a claim list shows of each claim: ``summarize`` keeps these keys of a state
SUMMARY_KEYS = (
    "id", "statement", "claimant", "language", "tags", "status", "verdict", "counts",
    "first_appearance", "version", "created_at", "updated_at",
)


def summarize(state: Mapping[str, Any]) -> dict[str, Any]:
    """A claim's state without its entry lists: what a list row needs, and the same size
    whether the claim has ten entries or a hundred thousand."""
    summary = {key: state.get(key) for key in SUMMARY_KEYS}
    summary["counts"] = {
        **(state.get("counts") or {}),
        "notes": len(state.get("notes") or ()),
        "voided": len(state.get("voided_event_ids") or ()),
        "redacted": len(state.get("redacted_event_ids") or ()),
    }
    return summary


#: the lists of a state ``recent`` cuts to their latest entries, and the histogram lane of each
RECENT_LISTS = {"appearances": 0, "corroborations": 1, "denials": 2, "notes": 4}
#: how many spans of time ``histogram`` divides a claim's entries into
HISTOGRAM_BUCKETS = 48


def histogram(state: Mapping[str, Any], buckets: int = HISTOGRAM_BUCKETS) -> dict[str, Any] | None:
    """How many active entries occurred in each of ``buckets`` equal spans of time, per
    lane (0 appearances, 1 corroborations, 2 denials, 3 verdict and retraction, 4 notes):
    ``{"start", "end", "lanes": [[count per span] per lane], "parts": [...]}``, None
    without entries. ``parts`` is the same count on the broken axis (``ledger.axis``): per
    part of the story, its ``start``, ``end`` and ``lanes`` over ``buckets // len(parts)``
    spans of that part (one span for a part that is one moment), so years between two
    bursts do not squash both into a bar each. Bounded: at most ``buckets`` spans a lane
    in all, however long the claim."""
    points = [(lane, str(e.get("occurred_at") or "")) for key, lane in RECENT_LISTS.items()
              for e in state.get(key) or ()]
    for key, moment in (("verdict", "issued_at"), ("retraction", "occurred_at")):
        if state.get(key):
            points.append((3, str(state[key].get(moment) or "")))
    seconds: dict[str, float] = {}
    timed = []
    for lane, moment in points:
        if not moment:
            continue
        value = seconds.get(moment)
        if value is None:  # canonical times repeat a lot: each is parsed once
            value = seconds[moment] = datetime.fromisoformat(moment).timestamp()
        timed.append((lane, value))
    if not timed:
        return None
    start = min(v for _, v in timed)
    end = max(v for _, v in timed)
    lanes = _count(timed, start, end, buckets)
    ordered = sorted(set(seconds.values()))
    if not axis.cuts(ordered):  # one part: the whole span's count (the common case)
        one = {"start": _iso(start), "end": _iso(end),
               "lanes": lanes if end > start else [[sum(row)] for row in lanes]}
        return {"start": one["start"], "end": one["end"], "lanes": lanes, "parts": [one]}
    return {"start": _iso(start), "end": _iso(end), "lanes": lanes,
            "parts": _parts(timed, ordered, buckets)}


def _count(timed: Sequence[tuple[int, float]], start: float, end: float,
           buckets: int) -> list[list[int]]:
    width = max(end - start, 1.0) / buckets
    lanes = [[0] * buckets for _ in range(5)]
    for lane, value in timed:
        lanes[lane][min(buckets - 1, int((value - start) / width))] += 1
    return lanes


def _parts(timed: Sequence[tuple[int, float]], ordered: Sequence[float],
           buckets: int) -> list[dict[str, Any]]:
    """The histogram per part of the broken axis (``ordered``: the distinct times)."""
    bounds = [(ordered[first], ordered[last]) for first, last in axis.groups(ordered)]
    each = max(1, buckets // len(bounds))
    starts = [low for low, _ in bounds]
    by_part: list[list[tuple[int, float]]] = [[] for _ in bounds]
    for lane, value in timed:
        by_part[bisect.bisect_right(starts, value) - 1].append((lane, value))
    return [{"start": _iso(low), "end": _iso(high),
             "lanes": _count(part, low, high, each if high > low else 1)}
            for (low, high), part in zip(bounds, by_part, strict=True)]


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def recent(state: Mapping[str, Any], keep: int = 20) -> dict[str, Any]:
    """A state with each entry list cut to its latest ``keep`` entries, the full counts
    (``counts.notes`` too) and its ``histogram``: what a claim page shows, the same size
    however many entries the claim has."""
    cut = {**state, "counts": {**(state.get("counts") or {}),
                               "notes": len(state.get("notes") or ())}}
    for key in RECENT_LISTS:
        cut[key] = list((state.get(key) or [])[-keep:])
    cut["voided_event_ids"] = list(state.get("voided_event_ids") or ())
    cut["histogram"] = histogram(state)
    return cut


def replay(
    events: Iterable[FoldableEvent],
    *,
    as_of: str | None = None,
    valid_at: str | None = None,
    scales: Scales = DEFAULT_SCALES,
) -> dict[str, Any] | None:
    """Bitemporal replay: fold what was recorded by ``as_of`` and occurred by ``valid_at``.

    ``EntryCorrected`` is about the record, not the world: ``valid_at`` ignores its
    ``occurred_at``. Times are canonical ``...ffffffZ`` strings, so they compare as text.
    """
    chosen = [
        e
        for e in events
        if (as_of is None or e.recorded_at <= as_of)
        and (valid_at is None or e.type == "EntryCorrected" or e.occurred_at <= valid_at)
    ]
    return fold(chosen, scales)


def _verdict(event: FoldableEvent, data: Mapping[str, Any], scales: Scales) -> dict[str, Any]:
    scale = scales.get(data.get("scale", ""))
    rating = scale.get(data.get("value", "")) if scale else None
    return {
        "event_id": event.id,
        "scale": data.get("scale"),
        "value": data.get("value"),
        "label": rating.label if rating else data.get("value"),
        "rating": rating.rating if rating else None,
        "best_rating": scale.best if scale else None,
        "worst_rating": scale.worst if scale else None,
        "explanation": data.get("explanation"),
        "reviewer": data.get("reviewer"),
        "issued_at": event.occurred_at,
    }


def _first(appearances: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    if not appearances:
        return None
    earliest = min(appearances, key=lambda a: str(a.get("published_at") or a["occurred_at"]))
    return dict(earliest)
