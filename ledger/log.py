"""The log service: signed checkpoints and JSON-ready proofs over one event store.

Checkpoints are issued on request (``issue``) and after appends at most once per
``interval`` seconds (``after_append``); every issued one is stored, so any of them
can be served again. Proofs are dicts of lowercase hex, exactly the API's bodies.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import checkpoint as cp
from . import identity
from .envelope import RecordedEvent
from .errors import ClaimNotFound, IntegrityError
from .store import EventStore
from .store.tree import StoredCheckpoint
from .timeutil import format_time, parse_time, utcnow

#: seconds between checkpoints issued after appends, unless configured
DEFAULT_INTERVAL = 1.0


class LogService:
    """Checkpoints and proofs for one store, signed with one Ed25519 key."""

    def __init__(
        self,
        store: EventStore,
        key: Ed25519PrivateKey,
        origin: str,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Serve ``store``'s log as ``origin``; ``interval`` throttles ``after_append``."""
        if not cp.is_valid_key_name(origin):
            raise cp.CheckpointError(f"the log origin {origin!r} cannot be a key name")
        self.store = store
        self.key = key
        self.origin = origin
        self.interval = interval
        self._clock = clock
        self._last_issue = float("-inf")
        self._lock = threading.Lock()
        self._checked = ""  # the last stored note found signed by this key
        self._rotations = 0  # the recorded key rotations found not to retire this key

    @classmethod
    def open(
        cls,
        store: EventStore,
        key_path: str | Path,
        origin: str,
        *,
        interval: float = DEFAULT_INTERVAL,
    ) -> LogService:
        """A service signing with the key file at ``key_path`` (created by ``claimledger init``)."""
        if not Path(key_path).exists():
            raise cp.CheckpointError(
                f"no signing key at {key_path}: run `claimledger init` to create it"
            )
        return cls(store, cp.load_signing_key(key_path), origin, interval=interval)

    # --- keys ---------------------------------------------------------------------------
    @property
    def verifier_key(self) -> str:
        """The signed-note verifier key auditors pin."""
        return cp.verifier_key(self.origin, self.key.public_key())

    def key_info(self) -> dict[str, Any]:
        """``{"origin", "public_key" (hex), "verifier_key", "rotations"}``: the key in use
        and the recorded rotations that lead to it (oldest first)."""
        return {
            "origin": self.origin,
            "public_key": cp.public_key_bytes(self.key).hex(),
            "verifier_key": self.verifier_key,
            "rotations": [r.to_json() for r in self.store.key_rotations()],
        }

    def _still_the_key(self) -> None:
        """Refuse to sign once a rotation recorded since this process started retired its key.

        One small read per issued checkpoint; the chain is checked again only when a
        rotation was added.
        """
        rotations = self.store.key_rotations()
        if len(rotations) == self._rotations:
            return
        keys = identity.chain(rotations)
        if keys and keys[-1] != self.verifier_key:
            raise identity.IdentityError(
                f"the log's signing key was rotated to {identity.key_label(keys[-1])}: this"
                f" process still holds {identity.key_label(self.verifier_key)}; restart it"
                " with the new key file"
            )
        self._rotations = len(rotations)

    # --- checkpoints ----------------------------------------------------------------------
    def issue(self) -> StoredCheckpoint:
        """Sign and store a checkpoint for the current head (the stored one if it exists)."""
        self._still_the_key()
        size = self.store.head()
        root = self.store.root(size)
        note = cp.sign_checkpoint(self.origin, size, root, self.key)
        stored = self.store.add_checkpoint(
            StoredCheckpoint(size, root, note, format_time(utcnow()))
        )
        if stored.root != root:
            raise IntegrityError(
                f"the checkpoint stored for size {size} has another root than the tree", size
            )
        with self._lock:
            self._last_issue = self._clock()
        return self._ours(stored)

    def _ours(self, stored: StoredCheckpoint) -> StoredCheckpoint:
        """``stored``, signed again with this key if another key (or origin) signed it.

        After a key rotation the stored checkpoint of the current head keeps the old
        key's signature (one row per size); it is served re-signed (Ed25519 signatures
        are deterministic, so always the same note) until the log grows.
        """
        if stored.note == self._checked:
            return stored
        try:
            cp.open_checkpoint(stored.note, self.verifier_key, origin=self.origin)
        except cp.CheckpointError:
            note = cp.sign_checkpoint(self.origin, stored.size, stored.root, self.key)
            return StoredCheckpoint(stored.size, stored.root, note, stored.issued_at)
        self._checked = stored.note
        return stored

    def after_append(self, *_: Any) -> StoredCheckpoint | None:
        """Issue a checkpoint unless this process issued one less than ``interval`` ago."""
        with self._lock:
            now = self._clock()
            if now - self._last_issue < self.interval:
                return None
            self._last_issue = now
        return self.issue()

    def current(self) -> StoredCheckpoint:
        """The latest checkpoint; a new one when none exists or it lags and is old enough."""
        latest = self.store.latest_checkpoint()
        if latest is None:
            return self.issue()
        if latest.size < self.store.head():
            age = utcnow() - parse_time(latest.issued_at)
            if age >= timedelta(seconds=self.interval):
                return self.issue()
        return self._ours(latest)

    def covering(self, size: int) -> StoredCheckpoint:
        """The latest checkpoint if it covers ``size`` leaves, else a new one."""
        latest = self.store.latest_checkpoint()
        if latest is not None and latest.size >= size:
            return self._ours(latest)
        return self.issue()

    def at(self, size: int) -> StoredCheckpoint | None:
        """The checkpoint signed for exactly ``size`` leaves, if one was (signed by this key)."""
        stored = self.store.checkpoint_at(size)
        return None if stored is None else self._ours(stored)

    def signed_after(self, size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` stored checkpoints of sizes above ``size`` (-1: from the empty tree)."""
        return self.store.checkpoints_after(size, limit)

    # --- proofs ---------------------------------------------------------------------------
    def _size(self, size: int | None) -> int:
        return self.current().size if size is None else size

    def inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        """``{"index", "size", "leaf_hash", "root", "proof"}`` (size: the checkpoint's)."""
        proof = self.store.inclusion_proof(index, self._size(size))
        return {
            "index": proof.index,
            "size": proof.size,
            "leaf_hash": proof.leaf_hash.hex(),
            "root": proof.root.hex(),
            "proof": [h.hex() for h in proof.proof],
        }

    def consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        """``{"from", "to", "root_from", "root_to", "proof"}`` (to: the checkpoint's)."""
        proof = self.store.consistency_proof(first, self._size(second))
        return {
            "from": proof.first,
            "to": proof.second,
            "root_from": proof.root_first.hex(),
            "root_to": proof.root_second.hex(),
            "proof": [h.hex() for h in proof.proof],
        }

    def event_proofs(
        self, events: Sequence[RecordedEvent]
    ) -> tuple[StoredCheckpoint, dict[int, dict[str, Any]]]:
        """One checkpoint covering ``events`` and, by position, ``leaf_index`` and proof."""
        last = max((e.position for e in events), default=0)
        checkpoint = self.covering(last)
        indexes = [e.position - 1 for e in events]
        root, proofs = self.store.inclusion_proofs(indexes, checkpoint.size)
        if root != checkpoint.root:
            raise IntegrityError(
                f"the tree root at size {checkpoint.size} is not the checkpoint's", checkpoint.size
            )
        return checkpoint, {
            index + 1: {"leaf_index": index, "inclusion_proof": [h.hex() for h in proof]}
            for index, proof in zip(indexes, proofs, strict=True)
        }

    def history(self, claim_id: str, *, as_of: str | None = None) -> dict[str, Any]:
        """A claim's history with proofs: ``{"claim_id", "checkpoint", "events"}``."""
        events = self.store.read_claim(claim_id, as_of=as_of)
        if not events:
            raise ClaimNotFound(claim_id)
        checkpoint, proofs = self.event_proofs(events)
        return {
            "claim_id": claim_id,
            "checkpoint": checkpoint.note,
            "events": [{**e.to_json(), **proofs[e.position]} for e in events],
        }
