"""Replaying the whole log from its events' JSON: pure, incremental, no I/O.

An auditor feeds the events of ``GET /v1/events`` in position order, page by page,
and ``Replay`` checks each one with ``ledger.integrity.check_event``, across the
whole log: positions run 1, 2, 3, ... without a gap; ``payload_sha256`` is the hash of
the canonical ``data`` (a redacted event keeps its hash and must say who redacted it);
``leaf_hash`` is recomputed from the eleven committed fields; each claim's versions
follow one another and ``prev_hash`` is its previous event's leaf hash; ``recorded_at``
never goes back. The leaves build a compact Merkle tree, so ``root()`` at a signed size
can be compared with the signed root. The first failure stops the replay and names its
position. ``state()`` and ``Replay(state)`` carry a replay over to a later run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import merkle
from .integrity import Broken, Finding, check_event, format_problem, json_fields


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
        self.failure: Finding | None = None

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

    def feed(self, events: Iterable[Mapping[str, Any]]) -> Finding | None:
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

    def _check(self, event: Mapping[str, Any]) -> Finding | None:
        expected = self._tree.size + 1
        recorded = json_fields(event)
        if recorded is None:
            if not isinstance(event, Mapping):
                return Finding(expected, "format", "the event is not a JSON object")
            return Finding(expected, "format", format_problem(event) or "malformed")
        claim = recorded[1]  # claim_id (this runs for every event of the log)
        try:
            payload, leaf = check_event(
                recorded, expected, self._heads.get(claim, (0, None)), self._last_recorded
            )
        except Broken as exc:
            return exc.finding
        if payload is None:
            self.redacted += 1
        else:
            self.payloads += 1
        self._heads[claim] = (recorded[2], recorded[13])  # version, leaf_hash
        self._last_recorded = recorded[8]  # recorded_at
        self._tree.push(leaf)
        self.events += 1
        return None
