"""Replaying the whole log from its events' JSON: pure, incremental, no I/O.

An auditor feeds the events of ``GET /v1/events`` in position order, page by page,
and ``Replay`` checks each one as ``ledger.verifier`` checks a history, but across the
whole log: positions run 1, 2, 3, ... without a gap; ``payload_sha256`` is the hash of
the canonical ``data`` (a redacted event keeps its hash and must say who redacted it);
``leaf_hash`` is recomputed from the eleven committed fields; each claim's versions
follow one another and ``prev_hash`` is its previous event's leaf hash; ``recorded_at``
never goes back. The leaves build a compact Merkle tree, so ``root()`` at a signed size
can be compared with the signed root. The first failure stops the replay and names its
position. ``state()`` and ``Replay(state)`` carry a replay over to a later run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import hashing, merkle

_HASH = re.compile(r"[0-9a-f]{64}")
_sha256 = hashlib.sha256
_STRINGS = ("id", "claim_id", "type", "occurred_at", "recorded_at", "actor")


@dataclass(frozen=True, slots=True)
class ReplayFailure:
    """The first check that failed: the position it concerns, which check, why."""

    position: int
    check: str
    message: str

    def __str__(self) -> str:
        """One line naming the position."""
        return f"position {self.position}: {self.check} check failed: {self.message}"


@dataclass(slots=True)
class ReplayState:
    """What a replay has established, enough to go on from where it stopped."""

    size: int = 0
    edge: list[bytes] = field(default_factory=list)
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    last_recorded: str = ""
    redacted: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (hashes in hex)."""
        return {
            "size": self.size,
            "edge": [h.hex() for h in self.edge],
            "heads": {claim: [version, leaf] for claim, (version, leaf) in self.heads.items()},
            "last_recorded": self.last_recorded,
            "redacted": self.redacted,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ReplayState:
        """Read ``to_json``'s form back; ValueError if it is not that."""
        try:
            size = int(obj["size"])
            edge = [bytes.fromhex(h) for h in obj["edge"]]
            heads = {str(c): (int(v), str(h)) for c, (v, h) in obj["heads"].items()}
            state = cls(size, edge, heads, str(obj["last_recorded"]), int(obj["redacted"]))
            merkle.CompactTree.resume(size, edge)  # the edge fits the size
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a saved replay: {exc}") from None
        return state


def _hash_problem(value: Any, what: str) -> str | None:
    if type(value) is not str or _HASH.fullmatch(value) is None:
        return f"{what} is not a lowercase hex SHA-256 hash"
    return None


def format_problem(event: Mapping[str, Any]) -> str | None:
    """Why an event's JSON lacks a field or has one of the wrong type, or None."""
    missing = [n for n in (*hashing.LEAF_FIELDS, "leaf_hash", "data") if n not in event]
    if missing:
        return f"missing fields {missing}"
    for name in ("position", "version", "schema_version"):
        value = event[name]
        if type(value) is not int or value < 1:
            return f"{name} is not a positive integer"
    for name in _STRINGS:
        if type(event[name]) is not str:
            return f"{name} is not a string"
    prev = event["prev_hash"]
    return (
        _hash_problem(event["payload_sha256"], "payload_sha256")
        or _hash_problem(event["leaf_hash"], "leaf_hash")
        or (None if prev is None else _hash_problem(prev, "prev_hash"))
    )


class Replay:
    """Checks the log's events in position order and builds its tree as it goes."""

    def __init__(self, state: ReplayState | None = None) -> None:
        """Start at the empty log, or go on from a saved ``state``."""
        state = state or ReplayState()
        self._tree = merkle.CompactTree.resume(state.size, state.edge)
        self._heads = dict(state.heads)
        self._last_recorded = state.last_recorded
        self.redacted = state.redacted
        #: events checked by this object (not counting a resumed state's)
        self.events = 0
        #: payloads hashed (redacted ones are not: their hash is all that is left)
        self.payloads = 0
        self.failure: ReplayFailure | None = None

    @property
    def size(self) -> int:
        """How many events have been replayed (the tree's size)."""
        return self._tree.size

    def root(self) -> bytes:
        """The root of the tree of the events replayed so far."""
        return self._tree.root()

    def state(self) -> ReplayState:
        """What this replay established, to go on from later."""
        return ReplayState(
            self._tree.size, self._tree.edge(), dict(self._heads), self._last_recorded,
            self.redacted,
        )

    def feed(self, events: Iterable[Mapping[str, Any]]) -> ReplayFailure | None:
        """Check ``events`` (the next ones in position order); the first failure, or None.

        After a failure the replay stops: every later call returns that failure.
        """
        if self.failure is not None:
            return self.failure
        for event in events:
            failure = self._check(event)
            if failure is not None:
                self.failure = failure
                return failure
        return None

    def _check(self, event: Mapping[str, Any]) -> ReplayFailure | None:
        expected = self._tree.size + 1
        # every field read once, types checked inline (this runs for every event of the log)
        try:
            position = event["position"]
            version = event["version"]
            schema_version = event["schema_version"]
            event_id = event["id"]
            claim = event["claim_id"]
            kind = event["type"]
            occurred = event["occurred_at"]
            recorded = event["recorded_at"]
            actor = event["actor"]
            payload_hash = event["payload_sha256"]
            leaf_claimed = event["leaf_hash"]
            prev_hash = event["prev_hash"]
            data = event["data"]
            well_formed = (
                type(position) is int and position > 0
                and type(version) is int and version > 0
                and type(schema_version) is int and schema_version > 0
                and type(event_id) is str and type(claim) is str and type(kind) is str
                and type(occurred) is str and type(recorded) is str and type(actor) is str
                and type(payload_hash) is str and type(leaf_claimed) is str
            )
        except (KeyError, TypeError):
            well_formed = False
        if not well_formed:
            if not isinstance(event, Mapping):
                return ReplayFailure(expected, "format", "the event is not a JSON object")
            return ReplayFailure(expected, "format", format_problem(event) or "malformed")
        if position != expected:
            return ReplayFailure(
                expected, "position",
                f"position {expected} is missing or out of place (found {position} next)",
            )
        if data is None:
            if not isinstance(event.get("redaction"), Mapping):
                return ReplayFailure(position, "payload", "the payload is gone and no"
                                     " redaction is recorded")
            problem = _hash_problem(payload_hash, "payload_sha256")
            if problem is not None:
                return ReplayFailure(position, "format", problem)
            self.redacted += 1
        else:
            try:
                digest = _sha256(hashing.canonical_json(data)).hexdigest()
            except Exception as exc:  # rfc8785 refuses some values (NaN, huge ints)
                return ReplayFailure(position, "payload", f"data has no canonical form: {exc}")
            if digest != payload_hash:  # hex of the digest: checks the format too
                return ReplayFailure(position, "payload", "payload_sha256 is not the hash of"
                                     " data: the payload or its hash was changed")
            self.payloads += 1
        try:
            leaf = _sha256(b"\x00" + hashing.leaf_input(
                position=position, id=event_id, claim_id=claim, version=version, type=kind,
                schema_version=schema_version, occurred_at=occurred, recorded_at=recorded,
                actor=actor, payload_sha256=payload_hash, prev_hash=prev_hash,
            )).digest()
        except Exception as exc:
            return ReplayFailure(
                position, "leaf", f"committed fields have no canonical form: {exc}"
            )
        leaf_hex = leaf.hex()
        if leaf_hex != leaf_claimed:
            return ReplayFailure(position, "leaf", "leaf_hash is not the hash of the committed"
                                 " fields")
        head = self._heads.get(claim)
        prev_version, prev_leaf = head if head is not None else (0, None)
        if version != prev_version + 1:
            return ReplayFailure(position, "version", f"claim {claim} version {version} follows"
                                 f" version {prev_version}")
        if prev_hash != prev_leaf:  # our own hex: checks prev_hash's format too
            return ReplayFailure(position, "chain", "prev_hash is not the leaf hash of the"
                                 " claim's previous event")
        if recorded < self._last_recorded:
            return ReplayFailure(position, "recorded_at", f"recorded_at {recorded} goes back"
                                 f" before {self._last_recorded}")
        self._heads[claim] = (version, leaf_hex)
        self._last_recorded = recorded
        self._tree.push(leaf)
        self.events += 1
        return None
