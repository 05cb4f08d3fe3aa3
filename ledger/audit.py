"""The operator's audit: recompute the whole log from the stored events, in one stream.

For every position in order it checks that no position is missing or out of place,
that the payload hashes to ``payload_sha256`` (or was redacted, with a record of it),
that the leaf hash is the hash of the eleven committed fields, that the claim's chain
link and version follow its previous event, and that ``recorded_at`` never decreases.
A ``CompactTree`` rebuilds the tree from those leaves on the way and every stored
perfect-subtree node (level 1 and up) is compared as it completes; the latest
checkpoint's signature and root are checked against the rebuilt tree. Memory stays
flat: events and nodes are read page by page and only a bounded cache of claim heads
is kept. The first disagreement stops the audit and names its position.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import checkpoint as cp
from . import identity, merkle
from .envelope import RecordedEvent
from .integrity import Broken, Finding, broken, check_recorded
from .store import EventStore
from .store.tree import StoredCheckpoint


class AuditFailure(Finding):
    """The audit's first disagreement; a failure about the whole log names "the log"."""

    __slots__ = ()
    LOG = "the log"


@dataclass(slots=True)
class AuditReport:
    """What the audit covered, and its first failure if any."""

    head: int = 0
    events: int = 0
    nodes: int = 0
    redacted: list[int] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None
    signature_checked: bool = False
    #: recorded key rotations checked (notes signed by both keys, roots against the tree)
    rotations: int = 0
    failure: AuditFailure | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return self.failure is None

    def summary(self) -> str:
        """A short report for the operator."""
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"audited {self.events} of {self.head} events and {self.nodes} tree nodes"
            f" in {self.seconds:.1f} s ({rate:,.0f} events/s)"
        ]
        if self.redacted:
            shown = ", ".join(map(str, self.redacted[:10]))
            shown += " …" if len(self.redacted) > 10 else ""
            lines.append(f"{len(self.redacted)} redacted payloads (hashes kept): positions {shown}")
        if self.checkpoint is None:
            lines.append("no checkpoint issued yet")
        else:
            signed = "signature verified" if self.signature_checked else "signature NOT checked"
            lines.append(f"latest checkpoint: size {self.checkpoint.size}, {signed}")
        if self.rotations:
            lines.append(f"{self.rotations} recorded key rotations: both signatures and the"
                         " signed roots verified")
        lines.append("OK" if self.failure is None else f"FAILED at {self.failure}")
        return "\n".join(lines)


class _Nodes:
    """Stored nodes of one level, read page by page in index order."""

    def __init__(self, store: EventStore, level: int, batch: int) -> None:
        self.store, self.level, self.batch = store, level, batch
        self.page: list[tuple[int, bytes]] = []
        self.at = 0
        self.start = 0

    def expect(self, index: int, value: bytes, position: int) -> None:
        if self.at == len(self.page):
            self.page, self.at = self.store.read_nodes(self.level, self.start, self.batch), 0
        if self.at == len(self.page) or self.page[self.at][0] != index:
            raise broken(position, "node", f"stored {self._name(index, position)} is missing")
        if self.page[self.at][1] != value:
            raise broken(position, "node", f"stored {self._name(index, position)} differs from"
                        " the hash recomputed here")
        self.at += 1
        self.start = index + 1

    def _name(self, index: int, position: int) -> str:
        return f"node ({self.level}, {index}) over positions {(index << self.level) + 1}-{position}"


class _Claims:
    """Recent claim heads (bounded); older ones are read back from the store."""

    def __init__(self, store: EventStore, limit: int) -> None:
        self.store, self.limit = store, limit
        self.heads: OrderedDict[str, tuple[int, str]] = OrderedDict()

    def previous(self, event: RecordedEvent) -> tuple[int, str | None]:
        if event.version == 1:
            return 0, None
        head = self.heads.get(event.claim_id)
        if head is not None:
            self.heads.move_to_end(event.claim_id)
            return head
        for earlier in self.store.read_claim(event.claim_id):
            if earlier.version == event.version - 1 and earlier.position < event.position:
                return earlier.version, earlier.leaf_hash
        return 0, None

    def remember(self, event: RecordedEvent) -> None:
        self.heads[event.claim_id] = (event.version, event.leaf_hash)
        self.heads.move_to_end(event.claim_id)
        if len(self.heads) > self.limit:
            self.heads.popitem(last=False)


def _check_event(event: RecordedEvent, expected: int, last_recorded: str, claims: _Claims,
                 report: AuditReport) -> None:
    payload = check_recorded(event, expected, claims.previous(event), last_recorded)
    if payload is None:
        report.redacted.append(event.position)


def _signers(
    checkpoint: StoredCheckpoint, pinned: str, rotations: list[identity.Rotation]
) -> list[str]:
    """The keys that may have signed ``checkpoint``: the pinned one, or with recorded
    rotations that name it, the key of the chain in use at the checkpoint's size (at a
    rotation's size both the old and the new key)."""
    keys = identity.chain(rotations)
    if not keys:
        return [pinned]
    if pinned not in keys:
        raise identity.IdentityError(
            f"the pinned key {identity.key_label(pinned)} is not one of the log's recorded"
            f" keys ({' -> '.join(map(identity.key_label, keys))})"
        )
    bounds = [0, *(r.size for r in rotations), 1 << 64]
    return [key for i, key in enumerate(keys) if bounds[i] <= checkpoint.size <= bounds[i + 1]]


def _check_signature(
    checkpoint: StoredCheckpoint, verifier_key: str | None, origin: str | None,
    rotations: list[identity.Rotation], report: AuditReport,
) -> None:
    if verifier_key is None:
        return
    try:
        keys = _signers(checkpoint, verifier_key, rotations)
    except identity.IdentityError as exc:
        raise broken(None, "rotation", str(exc)) from None
    opened, why = None, ""
    for key in keys:
        try:
            opened = cp.open_checkpoint(checkpoint.note, key, origin=origin)
            break
        except cp.CheckpointError as exc:
            why = str(exc)
    if opened is None:
        if rotations:
            why = (f"not signed by {' or '.join(map(identity.key_label, keys))}, the key"
                   " the recorded rotations give for its size")
        raise broken(None, "checkpoint", f"checkpoint of size {checkpoint.size}: {why}")
    if (opened.size, opened.root) != (checkpoint.size, checkpoint.root):
        raise broken(None, "checkpoint", f"the signed note stored for size {checkpoint.size}"
                    " names another size or root")
    report.signature_checked = True


def _check_root(size: int, signed: bytes, root: bytes, what: str = "checkpoint") -> None:
    if root != signed:
        check = "checkpoint" if what == "checkpoint" else "rotation"
        raise broken(None, check, f"the root the {what} signed for size {size} is not the"
                    " root of the events stored: the log was rewritten at or before position"
                    f" {size}")


def audit(
    store: EventStore,
    verifier_key: str | None = None,
    *,
    origin: str | None = None,
    batch: int = 2000,
    claim_cache: int = 100_000,
    progress: Callable[[int], Any] | None = None,
) -> AuditReport:
    """Audit the whole log up to its current head; stops at the first failure."""
    started = time.perf_counter()
    report = AuditReport()
    report.checkpoint = checkpoint = store.latest_checkpoint()
    report.head = head = store.head()
    rotations: list[identity.Rotation] = list(store.key_rotations())
    try:
        if checkpoint is not None:
            _check_signature(checkpoint, verifier_key, origin, rotations, report)
            if checkpoint.size > head:
                raise broken(head + 1, "position", f"the log ends at {head} but a checkpoint was"
                            f" signed for {checkpoint.size} events")
            if checkpoint.size == 0:
                _check_root(0, checkpoint.root, merkle.EMPTY_ROOT)
        signed = _signed_roots(checkpoint, rotations, head, report)
        _stream(store, head, signed, report, batch, _Claims(store, claim_cache), progress)
    except Broken as stop:
        failure = stop.finding
        report.failure = AuditFailure(failure.position, failure.check, failure.message)
    report.seconds = time.perf_counter() - started
    return report


def _signed_roots(
    checkpoint: StoredCheckpoint | None, rotations: list[identity.Rotation], head: int,
    report: AuditReport,
) -> dict[int, list[tuple[bytes, str]]]:
    """The roots signed for sizes up to the head: the latest checkpoint's and each
    rotation's (its note checked against both keys), by size."""
    signed: dict[int, list[tuple[bytes, str]]] = {}
    if checkpoint is not None:
        signed.setdefault(checkpoint.size, []).append((checkpoint.root, "checkpoint"))
    for rotation in rotations:
        try:
            tree = identity.open_rotation(rotation)
        except identity.IdentityError as exc:
            raise broken(None, "rotation", str(exc)) from None
        if tree.size > head:
            raise broken(head + 1, "position", f"the log ends at {head} but a key rotation was"
                        f" signed at {tree.size} events")
        if tree.size == 0:
            _check_root(0, tree.root, merkle.EMPTY_ROOT, "key rotation")
        signed.setdefault(tree.size, []).append((tree.root, "key rotation"))
        report.rotations += 1
    return signed


def _stream(
    store: EventStore,
    head: int,
    signed: dict[int, list[tuple[bytes, str]]],
    report: AuditReport,
    batch: int,
    claims: _Claims,
    progress: Callable[[int], Any] | None,
) -> None:
    tree = merkle.CompactTree()
    levels: dict[int, _Nodes] = {}
    expected, last_recorded, after = 1, "", 0
    while after < head:
        page = store.read_all(after, min(batch, head - after))
        if not page:
            raise broken(expected, "position", f"position {expected} is missing (the log ends"
                        f" at {after}, its head is {head})")
        for event in page:
            _check_event(event, expected, last_recorded, claims, report)
            claims.remember(event)
            last_recorded = event.recorded_at
            leaf = bytes.fromhex(event.leaf_hash)
            for level, index, value in tree.append(leaf):
                nodes = levels.get(level)
                if nodes is None:
                    nodes = levels[level] = _Nodes(store, level, batch)
                nodes.expect(index, value, expected)
                report.nodes += 1
            report.events += 1
            for root, what in signed.get(tree.size, ()):
                _check_root(tree.size, root, tree.root(), what)
            expected += 1
            if expected > head:
                break
        after = page[-1].position
        if progress is not None:
            progress(len(page))
