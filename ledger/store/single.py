"""The one-event append, what most appends are (a note, a verdict, one HTTP request): the
same checks, rows, bytes and hashes as ``EventStore.append``'s general path, without the
sets, lists and per-claim bookkeeping a batch needs (a fifth of a one-event append's
instructions went to them). What does not depend on the log's head (the payload's
canonical form, the metadata's text) is made before the append lock is taken."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from .. import hashing, merkle
from ..envelope import NewEvent, RecordedEvent
from ..errors import ConcurrencyConflict
from ..scales import Scales
from ..timeutil import format_time, now_text
from .caches import FrontierCache, HeadCache, roll_forward
from .tree import tree_at
from .writing import (
    CHECKED_TYPES,
    REWRITTEN_TYPES,
    Idempotency,
    StoredKey,
    WriteTransaction,
    check_stream_rules,
    metadata_json,
    replayed,
    seal,
)


class Prepared(NamedTuple):
    """What a one-event append writes that no other writer can change: made before the
    append lock is taken, so the lock is held for the head-dependent work only."""

    payload: bytes | None
    metadata: str | None


def prepare(new: NewEvent) -> Prepared:
    """The payload's canonical form (None when the stream rules may still rewrite the
    data: a correction's) and the metadata's text, for ``append_one`` (None: made there)."""
    data = new.data
    try:
        payload = None if new.type in REWRITTEN_TYPES else hashing.canonical_json(
            data if type(data) is dict else dict(data))
        metadata = metadata_json(new.metadata)
    except Exception:  # raised again under the lock, after the checks that come first there
        return Prepared(None, None)
    return Prepared(payload, metadata)



class Appended(NamedTuple):
    """What a one-event append wrote (``tree`` None: an idempotent replay, nothing written)."""

    records: list[RecordedEvent]
    before: int
    tree: merkle.CompactTree | None


def append_one(
    tx: WriteTransaction,
    caches: tuple[HeadCache, FrontierCache, Scales],
    new: NewEvent,
    actor: str,
    expected: Mapping[str, int] | None,
    idempotency: Idempotency | None,
    now: datetime | None,
    prepared: Prepared,
) -> Appended:
    """Append ``new`` inside ``tx`` (the append lock held), as ``EventStore.append`` does,
    with the store's ``caches`` (its claim heads and tree edge) and verdict scales, and
    what ``prepare`` made of ``new`` before the lock."""
    heads, frontier, scales = caches
    earlier = replayed(tx, actor, idempotency)
    if earlier is not None:
        return Appended(earlier, -1, None)
    before, last_recorded = tx.head()
    roll_forward(heads, frontier, tx, before)
    clock = now_text() if now is None else format_time(now)
    recorded_at = clock if last_recorded is None or clock > last_recorded else last_recorded
    claim_id = new.claim_id
    head = heads.get(before, claim_id) or tx.claim_head(claim_id)
    if expected:
        for other, version in expected.items():
            have = head if other == claim_id else heads.get(before, other) or tx.claim_head(other)
            if have[0] != version:
                raise ConcurrencyConflict(other, version, have[0])
    version, prev_hash = head
    payload, metadata = prepared
    data = new.data
    if (new.type in CHECKED_TYPES or version == 0 or "related_claim_id" in data
            or "target_claim_id" in data):
        new = check_stream_rules(tx, new, version, {}, 0, 1, scales)
        data = new.data
    if payload is None:  # a correction: its data is as the stream rules left it
        payload = hashing.canonical_json(data if type(data) is dict else dict(data))
    record, leaf = seal(new, before + 1, version + 1, prev_hash, recorded_at, actor, payload)
    tree = tree_at(tx, frontier, before)
    tx.insert_one(record, payload, tree.append(leaf), metadata)
    if idempotency is not None:
        tx.insert_key(
            actor, idempotency.key,
            StoredKey(idempotency.fingerprint, record.position, record.position), recorded_at,
        )
    return Appended([record], before, tree)
