"""Synthetic claim histories for tests, benchmarks and demos of the views.

``synthetic_events`` yields valid ``NewEvent`` objects for many interleaved claims:
recordings, appearances, corroborations, denials, verdicts, notes, retractions and
corrections (voids included), deterministic for a given seed.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.envelope import NewEvent
from ledger.store import EventStore

PEOPLE = [f"Person {chr(65 + i % 26)}{i:03d}" for i in range(300)]
OUTLETS = [f"Outlet {i:02d}" for i in range(40)]
TAGS = [f"topic-{i:02d}" for i in range(25)]
VERDICTS = ["true", "mostly-true", "mixed", "mostly-false", "false"]
FOLLOW_UPS = [
    ("AppearanceAdded", 18),
    ("ClaimCorroborated", 22),
    ("ClaimDenied", 22),
    ("VerdictIssued", 12),
    ("NoteAdded", 10),
    ("EntryCorrected", 10),
    ("ClaimRetracted", 3),
]


@dataclass
class _Claim:
    id: str
    remaining: int
    events: list[tuple[str, str]] = field(default_factory=list)  # (event id, type)
    voided: set[str] = field(default_factory=set)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _agent(rng: random.Random) -> dict[str, Any]:
    return {"name": rng.choice(PEOPLE)}


def _appearance(rng: random.Random) -> dict[str, Any]:
    return {"outlet": rng.choice(OUTLETS), "url": f"https://example.org/{rng.getrandbits(40):x}"}


def _payload(rng: random.Random, kind: str, claim: _Claim) -> dict[str, Any] | None:
    if kind == "AppearanceAdded":
        return {"appearance": _appearance(rng)}
    if kind in ("ClaimCorroborated", "ClaimDenied"):
        return {"by": _agent(rng), "note": "Said so on the record."}
    if kind == "ClaimRetracted":
        return {"by": _agent(rng), "note": "Withdrawn."}
    if kind == "VerdictIssued":
        return {"scale": "standard", "value": rng.choice(VERDICTS), "explanation": "Checked."}
    if kind == "NoteAdded":
        return {"text": "Call the ministry back."}
    targets = [
        (i, t) for i, t in claim.events if t != "EntryCorrected" and i not in claim.voided
    ]
    if not targets:
        return None
    target_id, target_type = rng.choice(targets)
    roll = rng.random()
    if roll < 0.45:
        claim.voided.add(target_id)
        return {"target_event_id": target_id, "kind": "void", "reason": "Logged in error."}
    if roll < 0.8 and target_type == "ClaimRecorded":
        changes: dict[str, Any] = rng.choice(
            [
                {"statement": f"Corrected statement {rng.getrandbits(32):x}."},
                {"claimant": _agent(rng)},
                {"tags": rng.sample(TAGS, 2)},
            ]
        )
        return {"target_event_id": target_id, "kind": "correction", "changes": changes,
                "reason": "Misquoted."}
    return {"target_event_id": target_id, "kind": "clarification", "reason": "Context."}


def synthetic_events(
    claims: int, *, seed: int = 7, mean_events: float = 5.0, window: int = 200
) -> Iterator[NewEvent]:
    """Events for ``claims`` claims, about ``mean_events`` each, ``window`` in flight."""
    rng = random.Random(seed)  # noqa: S311 (test data)
    kinds = [k for k, _ in FOLLOW_UPS]
    weights = [w for _, w in FOLLOW_UPS]
    active: list[_Claim] = []
    created = 0
    while created < claims or active:
        if created < claims and (len(active) < window or rng.random() < 0.2):
            claim = _Claim(_uuid(rng), max(0, round(rng.expovariate(1 / (mean_events - 1)))))
            created += 1
            event_id = _uuid(rng)
            claim.events.append((event_id, "ClaimRecorded"))
            data = {
                "statement": f"Claim number {created} about {rng.choice(TAGS)}.",
                "claimant": _agent(rng),
                "appearance": _appearance(rng),
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
            }
            yield NewEvent(claim.id, "ClaimRecorded", data, id=event_id)
            if claim.remaining:
                active.append(claim)
            continue
        index = rng.randrange(len(active))
        claim = active[index]
        kind = rng.choices(kinds, weights)[0]
        payload = _payload(rng, kind, claim) or {"text": "Nothing to correct."}
        if "text" in payload:
            kind = "NoteAdded"
        event_id = _uuid(rng)
        claim.events.append((event_id, kind))
        claim.remaining -= 1
        if claim.remaining <= 0:
            active[index] = active[-1]
            active.pop()
        yield NewEvent(claim.id, kind, payload, id=event_id)


def fill_store(
    store: EventStore,
    claims: int,
    *,
    seed: int = 7,
    batch: int = 5000,
    actor: str = "synthetic@example.org",
    mean_events: float = 5.0,
    limit: int | None = None,
) -> int:
    """Append a synthetic history in big batches (at most ``limit`` events); returns the head."""
    chunk: list[NewEvent] = []
    for count, event in enumerate(synthetic_events(claims, seed=seed, mean_events=mean_events)):
        if limit is not None and count >= limit:
            break
        chunk.append(event)
        if len(chunk) >= batch:
            store.append(chunk, actor=actor)
            chunk = []
    if chunk:
        store.append(chunk, actor=actor)
    return store.head()
