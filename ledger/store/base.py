"""The event store: the append logic every backend shares, and the recorders it is made of.

A backend gives its connections (a ``Database``), a ``WriteTransaction`` taken under the
ledger's one append lock, a ``NodeReader`` and ``read_all``; hashing, versioning,
idempotency and the domain rules live here once, so both backends behave identically.
The event reads, the tree, checkpoints, tokens, desk sessions, key rotations and
cosignatures are recorders composed here (``store.tree``, ``store.tokens`` …), each
written once over the backend's connections; the store's methods hand on to them.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from .. import hashing
from ..envelope import NewEvent, RecordedEvent
from ..errors import (
    ConcurrencyConflict,
    EventNotFound,
    StoreNotEmpty,
    ValidationFailed,
)
from ..events import EVENT_TYPES
from ..integrity import check_recorded
from ..scales import DEFAULT_SCALES, Scales
from ..timeutil import format_time, utcnow
from .caches import FrontierCache, HeadCache, roll_forward
from .checkpoints import CheckpointRecorder, SQLCheckpoints
from .cosignatures import CosignatureRecorder, SQLCosignatures, StoredCosignature
from .events import EventReads
from .links import LinkReads
from .rotations import KeyRotation, RotationRecorder, SQLRotations
from .sessions import SessionRecord, SessionRecorder, SQLSessions
from .single import Appended, append_one, prepare
from .sql import Connection, Database
from .tokens import SQLTokens, TokenRecord, TokenRecorder
from .tree import (
    ConsistencyProof,
    InclusionProof,
    NodeReader,
    Redaction,
    StoredCheckpoint,
    Tree,
    append_nodes,
)
from .writing import (
    CHECKED_TYPES,
    Idempotency,
    StoredKey,
    WriteTransaction,
    backfill_nodes,
    check_stream_rules,
    redact_payload,
    replayed,
    seal,
    write_restored,
)


def fingerprint(value: Any) -> str:
    """A stable SHA-256 hex fingerprint of a JSON-able request."""
    return hashlib.sha256(hashing.canonical_json(value)).hexdigest()


class EventStore(ABC):
    """An append-only, hash-chained event log with one stream per claim, and its tree."""

    #: a short name for logs and benchmarks
    backend: str = "abstract"
    #: verdict scales corrections are checked against
    scales: Scales = DEFAULT_SCALES

    def __init__(
        self, db: Database, nodes: NodeReader, migrate: Callable[[Connection], None]
    ) -> None:
        """Compose the recorders over the backend's connections, tree reads and schema."""
        self._db, self._migrate = db, migrate
        self.events = EventReads(db)
        self.links = LinkReads(db)
        self.tree = Tree(nodes, self.head)
        self.checkpoints: CheckpointRecorder = SQLCheckpoints(db)
        self.tokens: TokenRecorder = SQLTokens(db)
        self.sessions: SessionRecorder = SQLSessions(db)
        self.rotations: RotationRecorder = SQLRotations(db)
        self.cosignatures: CosignatureRecorder = SQLCosignatures(db)
        #: claim heads and the tree's right edge as this process's last append left them
        self._heads = HeadCache()
        self._frontier = FrontierCache()

    # --- backend primitives -------------------------------------------------
    def init(self) -> None:
        """Create or migrate the schema; safe to repeat."""
        with self._db.transaction() as conn:
            self._migrate(conn)

    @abstractmethod
    def write_transaction(self) -> AbstractContextManager[WriteTransaction]:
        """Begin a write transaction under the ledger's append lock."""

    @abstractmethod
    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with ``position > after`` in position order, at most ``limit``."""

    @abstractmethod
    def ping(self) -> None:
        """Raise ``StoreUnavailable`` if the database cannot be reached."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def read_all_json(self, after: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """``read_all`` as ``(position, envelope as compact JSON text)``, what ``to_json``
        gives: for the global feed, which only passes the envelopes on."""
        return [(e.position, _envelope_text(e.to_json())) for e in self.read_all(after, limit)]

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

    def forget_deleted(self) -> str:
        """After ``redact``: make the database forget the deleted payload's bytes where it
        can; says what it did, or what is left (PostgreSQL: until ``VACUUM``)."""
        return (
            "the deleted payload's row stays in the table's pages until VACUUM and in the"
            " WAL until it is recycled: run VACUUM (FULL) payloads (docs/operations.md)"
        )

    # --- event reads (store.events) -----------------------------------------
    def read_claim(
        self, claim_id: str, *, as_of: str | None = None, after: int = 0,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """A claim's events in version order, optionally only those recorded by ``as_of``;
        a page of them with ``after`` (versions greater than it) and ``limit``."""
        return self.events.read_claim(claim_id, as_of=as_of, after=after, limit=limit)

    def claim_version(self, claim_id: str) -> int:
        """A claim's last version (0 when it has no events): one index seek."""
        return self.events.claim_version(claim_id)

    def claim_corrections(self, claim_id: str) -> list[RecordedEvent]:
        """A claim's ``EntryCorrected`` events in version order (what voids and corrects
        its entries), without reading the rest of its events."""
        return self.events.claim_corrections(claim_id)

    def head(self) -> int:
        """The last committed position (0 when empty)."""
        return self.events.head()

    def get_event(self, event_id: str) -> RecordedEvent | None:
        """One event by id."""
        return self.events.get_event(event_id)

    def ids_starting(self, prefix: str, *, events: bool = False, limit: int = 10) -> list[str]:
        """Claim ids (event ids with ``events``) starting with ``prefix``, in order, at most
        ``limit``: one index range scan (ids compare bytewise in both stores)."""
        return self.events.ids_starting(prefix, events=events, limit=limit)

    def iter_all(self, batch: int = 1000) -> Iterator[RecordedEvent]:
        """Every event in position order, read in batches."""
        after = 0
        while True:
            page = self.read_all(after, batch)
            if not page:
                return
            yield from page
            after = page[-1].position

    # --- the tree (store.tree) ----------------------------------------------
    def root(self, size: int) -> bytes:
        """The tree root at ``size`` leaves (one query)."""
        return self.tree.root(size)

    def inclusion_proof(self, index: int, size: int) -> InclusionProof:
        """Leaf ``index`` (position - 1) in the tree of ``size`` leaves, with its root."""
        return self.tree.inclusion_proof(index, size)

    def inclusion_proofs(
        self, indexes: Sequence[int], size: int
    ) -> tuple[bytes, list[list[bytes]]]:
        """The root at ``size`` and a proof for each leaf index, fetched together."""
        return self.tree.inclusion_proofs(indexes, size)

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        """That the tree of ``first`` leaves is a prefix of the one of ``second`` leaves."""
        return self.tree.consistency_proof(first, second)

    def tree_hashes(self, level: int, start: int, count: int) -> list[bytes]:
        """The hashes of tree level ``level``, indexes ``start`` to ``start + count - 1``."""
        return self.tree.tree_hashes(level, start, count)

    def read_nodes(self, level: int, start: int, limit: int) -> list[tuple[int, bytes]]:
        """``(index, hash)`` of the stored nodes at ``level`` among indexes ``start`` to
        ``start + limit - 1``, in order (a missing node is absent)."""
        return self.tree.nodes.level(level, start, limit)

    # --- tokens and desk sessions -------------------------------------------
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

    # --- checkpoints, rotations, cosignatures --------------------------------
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

    # --- appends -------------------------------------------------------------
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
        if len(events) == 1:
            done = self._write_one(events[0], actor, expected_versions, idempotency, now)
            if done.tree is not None:
                [record] = done.records
                self._heads.remember_one(done.before, record.claim_id,
                                         (record.version, record.leaf_hash))
                self._frontier.keep(done.tree)
            return done.records
        with self.write_transaction() as tx:
            earlier = replayed(tx, actor, idempotency)
            if earlier is not None:
                return earlier
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
                if (new.type in CHECKED_TYPES or version == 0 or "related_claim_id" in new.data
                        or "target_claim_id" in new.data):
                    new = check_stream_rules(
                        tx, new, version, pending, index, len(events), self.scales
                    )
                position += 1
                data = new.data if type(new.data) is dict else dict(new.data)
                payload = hashing.canonical_json(data)
                record, leaf = seal(
                    new, position, version + 1, prev_hash, recorded_at, actor, payload
                )
                heads[new.claim_id] = (record.version, record.leaf_hash)
                pending.setdefault(new.claim_id, []).append(record)
                records.append(record)
                payloads.append(payload)
                leaves.append(leaf)
            nodes, tree = append_nodes(tx, self._frontier, before, leaves)
            tx.insert(records, payloads, nodes)
            if idempotency is not None:
                tx.insert_key(
                    actor,
                    idempotency.key,
                    StoredKey(idempotency.fingerprint, records[0].position, records[-1].position),
                    recorded_at,
                )
        self._heads.remember(before, position, heads)
        self._frontier.keep(tree)
        return records

    def _roll_forward(self, tx: WriteTransaction, head: int) -> None:
        """Bring the head and frontier caches to ``head`` if other writers added a few."""
        roll_forward(self._heads, self._frontier, tx, head)

    def _write_one(self, new: NewEvent, actor: str, expected: Mapping[str, int] | None,
                   idempotency: Idempotency | None, now: datetime | None) -> Appended:
        """``single.append_one`` in a write transaction (a backend may run it cheaper)."""
        prepared = prepare(new)  # before the lock: it does not depend on the log's head
        with self.write_transaction() as tx:
            return append_one(tx, (self._heads, self._frontier, self.scales), new, actor,
                              expected, idempotency, now, prepared)

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
                    write_restored(tx, count - len(chunk), chunk, payloads)
                    chunk, payloads = [], []
            if chunk:
                write_restored(tx, count - len(chunk), chunk, payloads)
        self._frontier.remember(-1, ())
        return count

    # --- the other writes under the append lock -----------------------------
    def backfill_nodes(self, progress: Callable[[int], Any] | None = None) -> int:
        """Build the nodes of a log that predates them; returns how many events it covered.

        Runs in one write transaction (appends wait); does nothing when they exist.
        """
        with self.write_transaction() as tx:
            built = backfill_nodes(tx, progress)
        self._frontier.remember(-1, ())
        return built

    def redact(
        self, event_id: str, *, actor: str, reason: str, at: str | None = None
    ) -> RecordedEvent:
        """Remove an event's payload for good, recording who, when and why.

        The leaf keeps committing to the payload's hash, so every proof still holds.
        """
        if not reason.strip():
            raise ValidationFailed("a redaction needs a reason", {"reason": ["Required."]})
        found = self.get_event(event_id)
        if found is None:
            raise EventNotFound(event_id)
        record = Redaction(found.position, found.id, actor, reason, at or format_time(utcnow()))
        with self.write_transaction() as tx:
            redact_payload(tx, record)
        [event] = self.read_all(found.position - 1, 1)
        return event


_envelope_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
