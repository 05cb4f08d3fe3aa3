"""The event store interface and the append logic shared by every backend.

A backend supplies a ``WriteTransaction`` (taken under the ledger's one append lock)
and a handful of reads; hashing, versioning, idempotency and the domain rules live
here once, so both backends behave identically.
"""

from __future__ import annotations

import hashlib
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from .. import hashing
from ..envelope import NewEvent, RecordedEvent
from ..errors import (
    ClaimNotFound,
    ConcurrencyConflict,
    IdempotencyConflict,
    StoreNotEmpty,
    ValidationFailed,
)
from ..events import EVENT_TYPES
from ..ids import new_uuid
from ..integrity import check_recorded
from ..merkle import Node
from ..rules import check_correction, check_link
from ..scales import DEFAULT_SCALES, Scales
from ..timeutil import format_time, utcnow
from .checkpoints import SQLCheckpoints
from .cosignatures import SQLCosignatures, StoredCosignature
from .rotations import KeyRotation, SQLRotations
from .sessions import SessionRecord, SQLSessions
from .sql import Database
from .tokens import SQLTokens, TokenRecord
from .tree import Key, Redaction, StoredCheckpoint, TreeStore, append_nodes


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An idempotency key (scoped to the actor) and a fingerprint of the request."""

    key: str
    fingerprint: str


def fingerprint(value: Any) -> str:
    """A stable SHA-256 hex fingerprint of a JSON-able request."""
    return hashlib.sha256(hashing.canonical_json(value)).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An idempotency key as stored: its fingerprint and the positions it wrote."""

    fingerprint: str
    first_position: int
    last_position: int


#: most events other writers may have appended for an append to roll its caches forward
ROLL_FORWARD_LIMIT = 64


class Leaf(NamedTuple):
    """What the append caches need of an event another writer appended."""

    position: int
    claim_id: str
    version: int
    leaf_hash: str


class HeadCache:
    """Claim heads this process wrote, trusted only while the log's head has not moved.

    Appends hold the ledger's lock, so if the head read inside a transaction equals
    the position this cache was last brought to, no other writer has committed since
    and the cached ``(version, leaf_hash)`` pairs are exact; otherwise they are ignored.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._position = -1
        self._heads: dict[str, tuple[int, str | None]] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def lookup(self, position: int, claim_ids: Iterable[str]) -> dict[str, Any]:
        """Known heads at ``position``; None for each claim not known."""
        with self._lock:
            known = self._heads if self._position == position else {}
            return {claim_id: known.get(claim_id) for claim_id in claim_ids}

    @property
    def position(self) -> int:
        """The log position the cached heads are exact at (-1: none)."""
        return self._position

    def catch_up(self, later: Sequence[Leaf]) -> bool:
        """Apply the events other writers appended since; False (nothing done) on a gap."""
        with self._lock:
            start = self._position + 1
            if not later or any(leaf.position != start + i for i, leaf in enumerate(later)):
                return False
            for leaf in later:
                self._heads[leaf.claim_id] = (leaf.version, leaf.leaf_hash)
            self._position = later[-1].position
            return True

    def remember(
        self, before: int, after: int, heads: Mapping[str, tuple[int, str | None]]
    ) -> None:
        """Record the heads a transaction that moved the log from ``before`` to ``after`` left."""
        with self._lock:
            if self._position != before or len(self._heads) > self._limit:
                self._heads = {}
            self._heads.update(heads)
            self._position = after


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
    def insert(
        self,
        events: Sequence[RecordedEvent],
        payloads: Sequence[bytes | None],
        nodes: Sequence[Node] = (),
    ) -> None:
        """Insert events, their canonical payloads (None: redacted) and tree nodes at once."""

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


#: a partial index of each claim's corrections (a migration of both backends)
CORRECTIONS_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_claim_corrections ON events (claim_id, version)"
    " WHERE type = 'EntryCorrected';"
)


class EventStore(TreeStore, ABC):
    """An append-only, hash-chained event log with one stream per claim, and its tree.

    A backend gives its connections (a ``Database``); tokens, sessions, checkpoints,
    key rotations and cosignatures are recorders composed here over them.
    """

    #: a short name for logs and benchmarks
    backend: str = "abstract"
    #: verdict scales corrections are checked against
    scales: Scales = DEFAULT_SCALES

    # --- backend primitives -------------------------------------------------
    @abstractmethod
    def init(self) -> None:
        """Create or migrate the schema; safe to repeat."""

    @abstractmethod
    def write_transaction(self) -> AbstractContextManager[WriteTransaction]:
        """Begin a write transaction under the ledger's append lock."""

    @abstractmethod
    def read_claim(
        self, claim_id: str, *, as_of: str | None = None, after: int = 0,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """A claim's events in version order, optionally only those recorded by ``as_of``;
        a page of them with ``after`` (versions greater than it) and ``limit``."""

    def read_claim_json(
        self, claim_id: str, *, as_of: str | None = None, after: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, str]]:
        """A claim's events as ``(version, envelope as compact JSON text)``: what
        ``to_json`` gives, for answers that only pass the envelopes on."""
        return [
            (e.version, _envelope_text(e.to_json()))
            for e in self.read_claim(claim_id, as_of=as_of, after=after, limit=limit)
        ]

    @abstractmethod
    def claim_version(self, claim_id: str) -> int:
        """A claim's last version (0 when it has no events): one index seek."""

    @abstractmethod
    def claim_corrections(self, claim_id: str) -> list[RecordedEvent]:
        """A claim's ``EntryCorrected`` events in version order (what voids and corrects
        its entries), without reading the rest of its events."""

    @abstractmethod
    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with ``position > after`` in position order, at most ``limit``."""

    def read_all_json(self, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """``read_all`` as ``(position, envelope as compact JSON text)``, what ``to_json``
        gives: for the global feed, which only passes the envelopes on."""
        return [(e.position, _envelope_text(e.to_json())) for e in self.read_all(after, limit)]

    def forget_deleted(self) -> str:
        """After ``redact``: make the database forget the deleted payload's bytes where it
        can; says what it did, or what is left (PostgreSQL: until ``VACUUM``)."""
        return (
            "the deleted payload's row stays in the table's pages until VACUUM and in the"
            " WAL until it is recycled: run VACUUM (FULL) payloads (docs/operations.md)"
        )

    @abstractmethod
    def head(self) -> int:
        """The last committed position (0 when empty)."""

    @abstractmethod
    def get_event(self, event_id: str) -> RecordedEvent | None:
        """One event by id."""

    @abstractmethod
    def ids_starting(self, prefix: str, *, events: bool = False, limit: int = 10) -> list[str]:
        """Claim ids (event ids with ``events``) starting with ``prefix``, in order, at most
        ``limit``: one index range scan (ids compare bytewise in both stores)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the database cannot be reached."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # --- composed recorders ------------------------------------------------
    def __init__(self, db: Database) -> None:
        """Compose the recorders kept beside the log over the backend's connections."""
        super().__init__()
        self.tokens = SQLTokens(db)
        self.sessions = SQLSessions(db)
        self.checkpoints = SQLCheckpoints(db)
        self.rotations = SQLRotations(db)
        self.cosignatures = SQLCosignatures(db)

    def create_token(self, record: TokenRecord, token_sha256: str) -> None:
        """Store a new token (by hash) and log who created it."""
        self.tokens.create_token(record, token_sha256)

    def find_token(self, token_sha256: str) -> TokenRecord | None:
        """The active (unrevoked) token with this hash, if any."""
        return self.tokens.find_token(token_sha256)

    def list_tokens(self) -> list[TokenRecord]:
        """Every token ever created, revoked ones included, oldest first."""
        return self.tokens.list_tokens()

    def revoke_token(self, token_id: str, *, actor: str, at: str) -> bool:
        """Revoke a token; False if it does not exist or is already revoked."""
        return self.tokens.revoke_token(token_id, actor=actor, at=at)

    def token_log(self) -> list[dict[str, str]]:
        """Who created or revoked which token, and when: ``{token_id, action, actor, at}``."""
        return self.tokens.token_log()

    def create_session(self, id_sha256: str, record: SessionRecord) -> None:
        """Store a new desk session; sessions expired by ``record.created_at`` are deleted."""
        self.sessions.create_session(id_sha256, record)

    def find_session(self, id_sha256: str, now: int) -> SessionRecord | None:
        """The session with this id hash, unless it ended or expired before ``now``."""
        return self.sessions.find_session(id_sha256, now)

    def set_session_notice(self, id_sha256: str, notice: str | None) -> None:
        """Set or clear the notice the session's next page shows."""
        self.sessions.set_session_notice(id_sha256, notice)

    def delete_session(self, id_sha256: str) -> bool:
        """End a session; whether it existed."""
        return self.sessions.delete_session(id_sha256)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
        """Store a checkpoint; the one already stored for that size wins."""
        return self.checkpoints.add_checkpoint(checkpoint)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, if any was issued."""
        return self.checkpoints.latest_checkpoint()

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint issued for a tree of ``size`` leaves, if any."""
        return self.checkpoints.checkpoint_at(size)

    def checkpoints_after(self, size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` checkpoints of trees larger than ``size`` leaves, smallest first
        (``size=-1`` starts with the empty tree's)."""
        return self.checkpoints.checkpoints_after(size, limit)

    def key_rotations(self) -> list[KeyRotation]:
        """Every recorded signing-key rotation, oldest first."""
        return self.rotations.key_rotations()

    def add_key_rotation(self, rotation: KeyRotation) -> None:
        """Record a rotation; ``RotationConflict`` if its ``seq`` or new key is taken."""
        self.rotations.add_key_rotation(rotation)

    def add_cosignature(self, cosignature: StoredCosignature) -> None:
        """Keep a cosignature (a newer one of the same size and key replaces it)."""
        self.cosignatures.add_cosignature(cosignature)

    def cosignatures_at(self, size: int) -> list[StoredCosignature]:
        """The cosignatures of the checkpoint of ``size``, by witness name."""
        return self.cosignatures.cosignatures_at(size)

    def witnessed_size(self, witness: str, key_id: str) -> int:
        """The largest size this witness key cosigned (0 if none)."""
        return self.cosignatures.witnessed_size(witness, key_id)

    # --- shared logic -------------------------------------------------------
    @property
    def _heads(self) -> HeadCache:
        cache: HeadCache | None = self.__dict__.get("_head_cache")
        if cache is None:
            cache = self.__dict__["_head_cache"] = HeadCache()
        return cache

    def append(
        self,
        events: Sequence[NewEvent],
        *,
        actor: str,
        expected_versions: Mapping[str, int] | None = None,
        idempotency: Idempotency | None = None,
        now: datetime | None = None,
    ) -> list[RecordedEvent]:
        """Append events for one or several claims in one all-or-nothing transaction.

        ``expected_versions`` maps claim ids to the version the caller last saw; a
        stale one raises ``ConcurrencyConflict``. A repeated idempotency key with the
        same fingerprint returns the original events and writes nothing.
        """
        if not events:
            raise ValidationFailed("nothing to append", {"events": ["At least one event."]})
        for event in events:
            if event.type not in EVENT_TYPES:
                raise ValidationFailed(f"unknown event type {event.type!r}", {"type": ["Unknown."]})
        with self.write_transaction() as tx:
            if idempotency is not None:
                stored = tx.find_key(actor, idempotency.key)
                if stored is not None:
                    if stored.fingerprint != idempotency.fingerprint:
                        raise IdempotencyConflict(
                            "this idempotency key was already used with a different request"
                        )
                    return tx.read_range(stored.first_position, stored.last_position)
            position, last_recorded = tx.head()
            self._roll_forward(tx, position)
            before = position
            clock = format_time(now or utcnow())
            recorded_at = clock if last_recorded is None or clock > last_recorded else last_recorded
            expected = expected_versions or {}
            heads = self._heads.lookup(position, {e.claim_id for e in events} | set(expected))
            missing = [c for c, head in heads.items() if head is None]
            if missing:
                heads.update(tx.claim_heads(missing))
            for claim_id, version in expected.items():
                if heads[claim_id][0] != version:
                    raise ConcurrencyConflict(claim_id, version, heads[claim_id][0])
            pending: dict[str, list[RecordedEvent]] = {}
            records: list[RecordedEvent] = []
            payloads: list[bytes] = []
            leaves: list[bytes] = []
            for index, new in enumerate(events):
                version, prev_hash = heads[new.claim_id]
                if (new.type in _CHECKED or version == 0 or "related_claim_id" in new.data
                        or "target_claim_id" in new.data):
                    new = _check_stream_rules(
                        tx, new, version, pending, index, len(events), self.scales
                    )
                position += 1
                data = new.data if type(new.data) is dict else dict(new.data)
                payload = hashing.canonical_json(data)
                record, leaf = _seal(
                    new, position, version + 1, prev_hash, recorded_at, actor, payload
                )
                heads[new.claim_id] = (record.version, record.leaf_hash)
                pending.setdefault(new.claim_id, []).append(record)
                records.append(record)
                payloads.append(payload)
                leaves.append(leaf)
            nodes, frontier = append_nodes(tx, self._frontier, before, leaves)
            tx.insert(records, payloads, nodes)
            if idempotency is not None:
                tx.insert_key(
                    actor,
                    idempotency.key,
                    StoredKey(idempotency.fingerprint, records[0].position, records[-1].position),
                    recorded_at,
                )
        self._heads.remember(before, position, heads)
        self._frontier.remember(position, frontier)
        return records

    def _roll_forward(self, tx: WriteTransaction, head: int) -> None:
        """Bring the head and frontier caches to ``head`` if other writers added a few events.

        With several processes appending in turn, each append would otherwise find both
        caches stale and look up the claim's head and the tree's right edge again.
        """
        known = self._heads.position
        if not 0 <= known < head or head - known > ROLL_FORWARD_LIMIT:
            return
        later = tx.leaves_since(known, head - known)
        if self._heads.catch_up(later):
            self._frontier.catch_up(known, [bytes.fromhex(leaf.leaf_hash) for leaf in later])

    def iter_all(self, batch: int = 1000) -> Iterator[RecordedEvent]:
        """Every event in position order, read in batches."""
        after = 0
        while True:
            page = self.read_all(after, batch)
            if not page:
                return
            yield from page
            after = page[-1].position

    def restore(self, events: Iterable[RecordedEvent], batch: int = 1000) -> int:
        """Load exported events verbatim into an empty store, re-verifying every hash.

        Raises ``StoreNotEmpty`` unless the store is empty and ``IntegrityError`` at the
        first event whose payload hash, leaf hash, chain link or numbering is wrong;
        nothing is written unless everything verifies. Redacted events (no payload, a
        redaction) keep their redaction; the tree nodes are written as they complete.
        """
        count = 0
        with self.write_transaction() as tx:
            if tx.head()[0] != 0:
                raise StoreNotEmpty("restore needs an empty store")
            heads: dict[str, tuple[int, str | None]] = {}
            last_recorded = ""
            chunk: list[RecordedEvent] = []
            payloads: list[bytes | None] = []
            for event in events:
                count += 1
                payload = check_recorded(
                    event, count, heads.get(event.claim_id, (0, None)), last_recorded
                )
                last_recorded = event.recorded_at
                heads[event.claim_id] = (event.version, event.leaf_hash)
                chunk.append(event)
                payloads.append(payload)
                if len(chunk) >= batch:
                    _write_restored(tx, count - len(chunk), chunk, payloads)
                    chunk, payloads = [], []
            if chunk:
                _write_restored(tx, count - len(chunk), chunk, payloads)
        self._frontier.remember(-1, ())
        return count


def _write_restored(
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


#: types whose stream rules need more than "the claim exists"
_CHECKED = frozenset({"ClaimRecorded", "EntryCorrected"})
#: payload fields naming another claim, which must exist
_RELATED = frozenset({"related_claim_id", "target_claim_id"})


def _check_stream_rules(
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
        check_link(new.data, tx.claim_events(new.claim_id) + pending.get(new.claim_id, []),
                   path=where)
    if new.type == "EntryCorrected":
        history = tx.claim_events(new.claim_id) + pending.get(new.claim_id, [])
        data = check_correction(new.data, history, path=where, scales=scales)
        return NewEvent(new.claim_id, new.type, data, new.occurred_at, new.metadata, new.id)
    return new


def _seal(
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
    payload_sha = hashlib.sha256(payload).hexdigest()
    leaf = hashing.leaf_input(
        position=position,
        id=event_id,
        claim_id=new.claim_id,
        version=version,
        type=new.type,
        schema_version=schema_version,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        actor=actor,
        payload_sha256=payload_sha,
        prev_hash=prev_hash,
    )
    leaf_hash = hashing.leaf_hash(leaf)
    # positional: this runs once per appended event
    return RecordedEvent(
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
    ), leaf_hash


_envelope_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """Metadata as compact JSON text for storage."""
    if not metadata:
        return "{}"
    return json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
