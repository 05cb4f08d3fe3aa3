"""What an append does inside its write transaction: the transaction's interface, the
stream rules, sealing a new event (identity, times, hashes), and the other writes that
hold the append lock (restore, building the tree's nodes, redaction)."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import hashing, merkle
from ..envelope import NewEvent, RecordedEvent
from ..errors import ClaimNotFound, IdempotencyConflict, IntegrityError, ValidationFailed
from ..events import EVENT_TYPES
from ..ids import new_uuid
from ..merkle import Node
from ..rules import check_correction, check_link
from ..scales import Scales
from .caches import Leaf
from .tree import Key, Redaction, append_nodes


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An idempotency key as stored: its fingerprint and the positions it wrote."""

    fingerprint: str
    first_position: int
    last_position: int


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An idempotency key (scoped to the actor) and a fingerprint of the request."""

    key: str
    fingerprint: str


class WriteTransaction(ABC):
    """One write transaction holding the ledger's append lock."""

    @abstractmethod
    def head(self) -> tuple[int, str | None]:
        """The last position and its ``recorded_at`` (0, None when empty)."""

    @abstractmethod
    def claim_head(self, claim_id: str) -> tuple[int, str | None]:
        """A claim's current version and last leaf hash (0, None if it does not exist)."""

    def claim_heads(self, claim_ids: Iterable[str]) -> dict[str, tuple[int, str | None]]:
        """``claim_head`` for several claims at once (backends may do it in one query)."""
        return {claim_id: self.claim_head(claim_id) for claim_id in claim_ids}

    @abstractmethod
    def leaves_since(self, position: int, limit: int) -> list[Leaf]:
        """Up to ``limit`` events after ``position``, in order, as ``Leaf`` tuples."""

    @abstractmethod
    def claim_events(self, claim_id: str) -> list[RecordedEvent]:
        """A claim's committed events in version order."""

    @abstractmethod
    def claim_exists(self, claim_id: str) -> bool:
        """Whether a claim has any events."""

    @abstractmethod
    def find_key(self, actor: str, key: str) -> StoredKey | None:
        """A stored idempotency key, if any."""

    @abstractmethod
    def insert(self, events: Sequence[RecordedEvent], payloads: Sequence[bytes | None],
               nodes: Sequence[Node] = ()) -> None:
        """Insert events, their canonical payloads (None: redacted) and tree nodes at once."""

    def insert_one(self, event: RecordedEvent, payload: bytes, nodes: Sequence[Node],
                   metadata: str | None = None) -> None:
        """``insert`` of one event and its payload (a backend may do it cheaper, and use
        ``metadata``, the event's ``metadata_json`` made before the lock)."""
        self.insert([event], [payload], nodes)

    @abstractmethod
    def get_nodes(self, keys: Sequence[Key]) -> dict[Key, bytes]:
        """The stored tree nodes among ``keys`` (one query)."""

    @abstractmethod
    def insert_nodes(self, nodes: Sequence[Node]) -> None:
        """Insert tree node rows ``(level, index, hash)``."""

    @abstractmethod
    def insert_redactions(self, redactions: Sequence[Redaction]) -> None:
        """Record redactions (before their payloads are deleted)."""

    @abstractmethod
    def delete_payload(self, position: int) -> None:
        """Delete a payload whose redaction is recorded (the database refuses any other)."""

    @abstractmethod
    def insert_key(self, actor: str, key: str, stored: StoredKey, created_at: str) -> None:
        """Remember an idempotency key."""

    @abstractmethod
    def read_range(self, first: int, last: int) -> list[RecordedEvent]:
        """Events with positions in ``[first, last]``."""


def replayed(tx: WriteTransaction, actor: str,
             idempotency: Idempotency | None) -> list[RecordedEvent] | None:
    """What an earlier request with this idempotency key appended, or None if none did
    (the same key with a different request is refused)."""
    if idempotency is None:
        return None
    stored = tx.find_key(actor, idempotency.key)
    if stored is None:
        return None
    if stored.fingerprint != idempotency.fingerprint:
        raise IdempotencyConflict("this idempotency key was already used with a different request")
    return tx.read_range(stored.first_position, stored.last_position)


def write_restored(
    tx: WriteTransaction,
    size: int,
    events: Sequence[RecordedEvent],
    payloads: Sequence[bytes | None],
) -> None:
    """Insert verified events, their payloads, redactions and the tree nodes they complete."""
    nodes, _ = append_nodes(tx, None, size, [bytes.fromhex(e.leaf_hash) for e in events])
    tx.insert(events, payloads, nodes)
    redactions = [
        Redaction(
            e.position,
            e.id,
            e.redaction["actor"],
            e.redaction["reason"],
            e.redaction["redacted_at"],
        )
        for e in events
        if e.data is None and e.redaction is not None
    ]
    if redactions:
        tx.insert_redactions(redactions)


def backfill_nodes(tx: WriteTransaction, progress: Callable[[int], Any] | None) -> int:
    """Build the nodes of a log that predates them; how many events it covered (0: none
    were missing)."""
    head = tx.head()[0]
    edge = [key for key in merkle.perfect_subtrees(0, head) if key[0] > 0]
    if not edge or len(tx.get_nodes(edge)) == len(edge):
        return 0
    if tx.get_nodes([(1, 0)]):
        raise IntegrityError("the tree nodes are partly missing", head)
    size, batch = 0, 5000
    tree = merkle.CompactTree()
    while size < head:
        events = tx.read_range(size + 1, min(head, size + batch))
        if not events or events[0].position != size + 1:
            raise IntegrityError(f"position {size + 1} is missing", size + 1)
        rows: list[merkle.Node] = []
        for event in events:
            rows.extend(tree.append(bytes.fromhex(event.leaf_hash)))
        tx.insert_nodes(rows)
        size += len(events)
        if progress is not None:
            progress(len(events))
    return head


def redact_payload(tx: WriteTransaction, record: Redaction) -> None:
    """Record a redaction and delete the payload it names, unless it is already redacted."""
    [current] = tx.read_range(record.position, record.position)
    if current.redaction is not None or current.data is None:
        raise ValidationFailed(
            f"event {record.event_id} is already redacted", {"event_id": ["Already redacted."]}
        )
    tx.insert_redactions([record])
    tx.delete_payload(record.position)


#: types whose stream rules need more than "the claim exists"
CHECKED_TYPES = frozenset({"ClaimRecorded", "EntryCorrected"})
#: types whose data the stream rules may rewrite (``check_correction``'s verdict scales)
REWRITTEN_TYPES = frozenset({"EntryCorrected"})
#: payload fields naming another claim, which must exist
_RELATED = frozenset({"related_claim_id", "target_claim_id"})


def check_stream_rules(
    tx: WriteTransaction,
    new: NewEvent,
    version: int,
    pending: Mapping[str, list[RecordedEvent]],
    index: int,
    total: int,
    scales: Scales,
) -> NewEvent:
    """The stream's structural rules: creation first, corrections that make sense."""
    where = f"events[{index}]" if total > 1 else "data"
    if new.type == "ClaimRecorded":
        if version != 0:
            raise ValidationFailed(
                "the claim already exists", {"claim_id": ["A claim is recorded only once."]}
            )
        return new
    if version == 0:
        raise ClaimNotFound(new.claim_id)
    for name in _RELATED.intersection(new.data):
        related = new.data[name]
        if name == "target_claim_id" and related == new.claim_id:
            raise ValidationFailed(
                "a claim cannot be linked to itself",
                {f"{where}.{name}": ["Names this claim itself."]},
            )
        if not (tx.claim_exists(related) or related in pending):
            raise ValidationFailed(
                "the related claim does not exist", {f"{where}.{name}": ["Unknown claim."]}
            )
    if new.type == "ClaimLinked":
        other = new.data["target_claim_id"]
        check_link(new.data, tx.claim_events(new.claim_id) + pending.get(new.claim_id, []),
                   path=where, target=tx.claim_events(other) + pending.get(other, []))
    if new.type == "EntryCorrected":
        history = tx.claim_events(new.claim_id) + pending.get(new.claim_id, [])
        data = check_correction(new.data, history, path=where, scales=scales)
        return NewEvent(new.claim_id, new.type, data, new.occurred_at, new.metadata, new.id)
    return new


_new_tuple = tuple.__new__
_sha256 = hashlib.sha256


def seal(
    new: NewEvent,
    position: int,
    version: int,
    prev_hash: str | None,
    recorded_at: str,
    actor: str,
    payload: bytes,
) -> tuple[RecordedEvent, bytes]:
    """Give a new event its identity, times and hashes; also its leaf hash as bytes."""
    schema_version = EVENT_TYPES[new.type].schema_version
    event_id = new.id or new_uuid()
    occurred_at = new.occurred_at or recorded_at
    payload_sha = _sha256(payload).hexdigest()
    leaf = hashing.leaf_bytes(position, event_id, new.claim_id, version, new.type,
                              schema_version, occurred_at, recorded_at, actor, payload_sha,
                              prev_hash)
    leaf_hash = _sha256(b"\x00" + leaf).digest()  # hashing.leaf_hash, inlined
    # built as the tuple it is (no keyword __new__): this runs once per appended event
    return _new_tuple(RecordedEvent, (
        event_id,
        new.claim_id,
        version,
        position,
        new.type,
        schema_version,
        new.data,
        occurred_at,
        recorded_at,
        actor,
        new.metadata,
        payload_sha,
        prev_hash,
        leaf_hash.hex(),
        None,
    )), leaf_hash


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """Metadata as compact JSON text for storage."""
    if not metadata:
        return "{}"
    return json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
