"""Canonical digests of the views and of a from-scratch fold of the log.

Both sides are reduced to the same shape (every claim's state, every index set's
members, merged over partitions), so equal digests mean the views hold exactly what
folding the log says, whatever the partitioning or the history of the views.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from ledger.envelope import RecordedEvent
from ledger.fold import fold
from ledger.store import EventStore

from .config import Keys, text
from .coordination import read_pointer
from .indexes import index_names, member


@dataclass
class Snapshot:
    """Claim states by id and index members by index name."""

    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes: dict[str, set[str]] = field(default_factory=dict)
    checkpoint: int | None = None

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of claims and indexes (not the checkpoint)."""
        body = {
            "claims": [[k, self.claims[k]] for k in sorted(self.claims)],
            "indexes": [[k, sorted(self.indexes[k])] for k in sorted(self.indexes) if
                        self.indexes[k]],
        }
        raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def differences(self, other: Snapshot, limit: int = 5) -> list[str]:
        """A few human-readable differences, for test failures."""
        out = []
        for claim_id in sorted(set(self.claims) | set(other.claims)):
            if self.claims.get(claim_id) != other.claims.get(claim_id):
                out.append(f"claim {claim_id}: {self.claims.get(claim_id)} != "
                           f"{other.claims.get(claim_id)}")
        for name in sorted(set(self.indexes) | set(other.indexes)):
            mine, theirs = self.indexes.get(name, set()), other.indexes.get(name, set())
            if mine != theirs:
                out.append(f"index {name}: only here {sorted(mine - theirs)[:3]},"
                           f" only there {sorted(theirs - mine)[:3]}")
        return out[:limit]


def views_snapshot(redis: Redis, namespace: str = "cl") -> Snapshot:
    """Everything the live generation holds (empty if there are no views)."""
    keys = Keys(namespace)
    live = read_pointer(redis, keys)
    snap = Snapshot()
    if live is None:
        return snap
    cps = []
    for p in range(live.partitions):
        pk = keys.part(live.generation, p)
        cps.append(int(text(redis.get(pk.checkpoint)) or 0))
        claim_keys = [text(k) or "" for k in redis.scan_iter(match=pk.prefix + "c:*", count=1000)]
        for start in range(0, len(claim_keys), 1000):
            chunk = claim_keys[start:start + 1000]
            pipe = redis.pipeline(transaction=False)
            for key in chunk:
                pipe.hget(key, "state")
            for key, state in zip(chunk, pipe.execute(), strict=True):
                snap.claims[key[len(pk.prefix) + 2:]] = json.loads(text(state) or "null")
        for key in redis.scan_iter(match=pk.prefix + "i:*", count=1000):
            name = (text(key) or "")[len(pk.prefix) + 2:]
            members = {text(m) or "" for m in redis.zrange(key, 0, -1)}  # type: ignore[arg-type]
            snap.indexes.setdefault(name, set()).update(members)
    snap.checkpoint = min(cps) if cps else None
    return snap


def log_snapshot(store: EventStore, upto: int | None = None) -> Snapshot:
    """What the views should hold: every claim folded from scratch from the log."""
    streams: dict[str, list[RecordedEvent]] = {}
    for event in store.iter_all(batch=5000):
        if upto is not None and event.position > upto:
            break
        streams.setdefault(event.claim_id, []).append(event)
    snap = Snapshot(checkpoint=upto if upto is not None else store.head())
    for claim_id, events in streams.items():
        state = fold(events, store.scales)
        if state is None:
            continue
        snap.claims[claim_id] = json.loads(json.dumps(state))
        m = member(state)
        for name in index_names(state):
            snap.indexes.setdefault(name, set()).add(m)
    return snap
