"""The auditor's verifier: re-check a claim's history and the log's checkpoints offline.

Needs only the standard library, ``rfc8785`` and ``cryptography`` (through
``ledger.hashing``, ``ledger.merkle`` and ``ledger.checkpoint``); fetching over HTTP
is the caller's job. Inputs are the JSON the API returns:

* a claim's history events (``GET /v1/claims/{id}/history?proofs=true``): each has the
  eleven committed fields, ``data``, ``leaf_hash``, and ``leaf_index`` plus
  ``inclusion_proof`` (hex hashes) against the history's ``checkpoint``;
* checkpoints as signed-note text, a consistency proof as a list of hex hashes, and the
  log's verifier key, which the auditor pins rather than fetches.

Every check that fails is reported with the position it concerns; ``first_failure``
is the one to name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import checkpoint as cp
from . import hashing, merkle
from .integrity import Broken, Finding, check_leaf, check_payload, format_problem, from_json

#: The kinds of check, in the order each event is checked.
CHECKS = (
    "checkpoint",  # the checkpoint's signature and format
    "format",  # an event has every field, with the right types
    "position",  # positions run 1, 2, 3, ... without a gap (a whole-log replay)
    "claim",  # every event belongs to the claim being checked
    "version",  # versions run 1, 2, 3, ... and positions increase
    "payload",  # payload_sha256 is the SHA-256 of the canonical data
    "leaf",  # leaf_hash is recomputed from the eleven committed fields
    "chain",  # prev_hash is the previous event's leaf hash (null for version 1)
    "recorded_at",  # recorded_at never goes back (a whole-log replay)
    "root",  # the replayed tree's root is the signed root (a whole-log replay)
    "inclusion",  # the leaf is in the checkpoint's tree, at index position - 1
    "consistency",  # a saved checkpoint's tree is a prefix of the new one
    "witnesses",  # enough trusted witnesses cosigned the checkpoint
)


#: one failed check: its kind, the position it concerns (if any), and why
Failure = Finding


@dataclass(slots=True)
class VerificationResult:
    """What a verification checked and what failed; ``ok`` when nothing did."""

    checks: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    redacted: list[int] = field(default_factory=list)
    checkpoint: cp.Checkpoint | None = None

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.failures

    @property
    def first_failure(self) -> Failure | None:
        """The failure to report: log-wide ones first, then the lowest position."""
        if not self.failures:
            return None
        return min(
            self.failures,
            key=lambda f: (f.position is not None, f.position or 0, CHECKS.index(f.check)),
        )

    def fail(self, check: str, position: int | None, message: str) -> None:
        """Record a failed check."""
        self.failures.append(Finding(position, check, message))

    def summary(self) -> str:
        """A short human report: checks done, redactions, and the first failure."""
        done = ", ".join(f"{n} {kind}" for kind in CHECKS if (n := self.checks[kind]))
        lines = [f"checks: {done or 'none'}"]
        if self.redacted:
            lines.append(f"redacted payloads at positions {self.redacted} (hash kept)")
        first = self.first_failure
        lines.append("OK" if first is None else f"FAILED at {first}")
        return "\n".join(lines)


def _unhex(value: Any, what: str) -> bytes:
    """A 32-byte hash from lowercase hex, else ValueError naming ``what``."""
    if not isinstance(value, str) or len(value) != 2 * merkle.HASH_SIZE or value != value.lower():
        raise ValueError(f"{what} is not a lowercase hex SHA-256 hash")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{what} is not a lowercase hex SHA-256 hash") from None


def recompute_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """The leaf hash of an event's JSON, recomputed from its eleven committed fields."""
    return hashing.leaf_hash(
        hashing.leaf_input(**{name: event[name] for name in hashing.LEAF_FIELDS})
    )


def _open_checkpoint(
    note: str, verifier_key: str, result: VerificationResult, origin: str | None = None
) -> cp.Checkpoint | None:
    """Check a checkpoint's signature into ``result``; its content, or None if it fails."""
    result.checks["checkpoint"] += 1
    try:
        return cp.open_checkpoint(note, verifier_key, origin=origin)
    except cp.CheckpointError as exc:
        result.fail("checkpoint", None, str(exc))
        return None


def _check_inclusion(
    event: Mapping[str, Any], leaf: bytes, tree: cp.Checkpoint, result: VerificationResult
) -> None:
    position: int = event["position"]
    result.checks["inclusion"] += 1
    index = event.get("leaf_index")
    raw_proof = event.get("inclusion_proof")
    if not isinstance(index, int) or isinstance(index, bool) or not isinstance(raw_proof, list):
        result.fail("inclusion", position, "no leaf_index and inclusion_proof supplied")
        return
    if index != position - 1:
        result.fail("inclusion", position, f"leaf_index {index} is not position - 1")
        return
    if index >= tree.size:
        result.fail("inclusion", position, f"not in the checkpoint's tree of size {tree.size}")
        return
    try:
        proof = [_unhex(h, f"inclusion_proof[{i}]") for i, h in enumerate(raw_proof)]
        merkle.check_inclusion(leaf, index, tree.size, proof, tree.root)
    except (ValueError, merkle.ProofError) as exc:
        result.fail("inclusion", position, f"{exc} (tree size {tree.size})")


def verify_history(
    events: Sequence[Mapping[str, Any]],
    checkpoint_note: str | None,
    verifier_key: str | None,
    *,
    claim_id: str | None = None,
    origin: str | None = None,
    start: int = 0,
    start_leaf: str | None = None,
) -> VerificationResult:
    """Check a claim's history: payload hashes, leaf hashes, chain, versions, proofs.

    With a checkpoint note and verifier key, its signature is checked and every event's
    inclusion proof is verified against its root; without, only the history itself.
    ``start`` checks a page that begins after version ``start``: its first event links to
    ``start_leaf`` (the previous page's last leaf hash) when given, else its ``prev_hash``
    is taken as the link (its inclusion proof still ties it to the tree).
    """
    result = VerificationResult()
    tree = None
    if checkpoint_note is not None or verifier_key is not None:
        if checkpoint_note is None or verifier_key is None:
            raise ValueError("give both the checkpoint note and the verifier key, or neither")
        tree = _open_checkpoint(checkpoint_note, verifier_key, result, origin)
        result.checkpoint = tree
    if not events:
        result.fail("format", None, "the history has no events")
        return result

    expected_claim = claim_id
    prev_leaf: bytes | None = None
    prev_version, prev_position = start, 0
    if start:
        anchor = start_leaf if start_leaf is not None else events[0].get("prev_hash")
        try:
            prev_leaf = bytes.fromhex(anchor) if isinstance(anchor, str) else None
        except ValueError:
            prev_leaf = None
    for number, event in enumerate(events, start=1):
        result.checks["format"] += 1
        problem = format_problem(event)
        recorded = from_json(event) if problem is None else None
        if recorded is None:
            position = event.get("position")
            where = position if isinstance(position, int) else None
            result.fail("format", where, f"event #{number}: {problem or 'malformed'}")
            prev_leaf = None  # the chain cannot be followed through this event
            prev_version += 1
            continue
        position = recorded.position

        result.checks["claim"] += 1
        if expected_claim is None:
            expected_claim = recorded.claim_id
        elif recorded.claim_id != expected_claim:
            result.fail("claim", position, f"claim_id {recorded.claim_id} is not {expected_claim}")

        result.checks["version"] += 1
        if recorded.version != prev_version + 1:
            result.fail("version", position, f"version {recorded.version} follows {prev_version}")
        elif position <= prev_position:
            result.fail("version", position, f"position does not follow {prev_position}")
        prev_version, prev_position = recorded.version, position

        if recorded.data is None:
            result.redacted.append(position)
        else:
            result.checks["payload"] += 1
            try:
                check_payload(position, recorded.data, recorded.payload_sha256)
            except Broken as exc:
                result.failures.append(exc.finding)

        result.checks["leaf"] += 1
        try:
            leaf, wrong = check_leaf(recorded)
        except Broken as exc:
            result.failures.append(exc.finding)
            prev_leaf = None
            continue
        if wrong is not None:
            result.failures.append(wrong)

        result.checks["chain"] += 1
        prev_hash = recorded.prev_hash
        if recorded.version == 1:
            if prev_hash is not None:
                result.fail("chain", position, "version 1 has a prev_hash")
        elif prev_leaf is None:
            result.fail("chain", position, "no previous event to link to")
        elif prev_hash != prev_leaf.hex():
            result.fail("chain", position, "prev_hash is not the previous event's leaf hash")
        prev_leaf = leaf

        if tree is not None:
            _check_inclusion(event, leaf, tree, result)
    return result


def verify_checkpoint(
    note: str, verifier_key: str, *, origin: str | None = None
) -> VerificationResult:
    """Check one checkpoint's signature and format."""
    result = VerificationResult()
    result.checkpoint = _open_checkpoint(note, verifier_key, result, origin)
    return result


def verify_checkpoint_consistency(
    saved_note: str,
    new_note: str,
    proof: Sequence[str],
    verifier_key: str,
    *,
    origin: str | None = None,
) -> VerificationResult:
    """Check that the log at ``new_note`` extends the one at ``saved_note`` (RFC 9162).

    ``proof`` is the consistency proof from the saved size to the new size, as hex.
    A log that shrank, or whose root at an equal size differs, fails.
    """
    result = VerificationResult()
    old = _open_checkpoint(saved_note, verifier_key, result, origin)
    new = _open_checkpoint(new_note, verifier_key, result, origin)
    result.checkpoint = new
    if old is None or new is None:
        return result
    check_consistency(old, new, lambda: proof, result)
    return result


def check_consistency(
    old: cp.Checkpoint,
    new: cp.Checkpoint,
    proof: Callable[[], Sequence[str]],
    result: VerificationResult,
) -> bool:
    """Check into ``result`` that the tree of ``new`` extends the tree of ``old`` (same
    origin, no smaller, RFC 9162 proof); ``proof`` is asked for the hex proof only once
    the origins and sizes agree. Whether it holds."""
    failures = len(result.failures)
    result.checks["consistency"] += 1
    if old.origin != new.origin:
        result.fail("consistency", None, f"origin changed from {old.origin!r} to {new.origin!r}")
    elif new.size < old.size:
        result.fail("consistency", None, f"the log shrank from {old.size} to {new.size}")
    elif old.size == 0:
        if proof():
            result.fail("consistency", None, "a proof from the empty tree must be empty")
    else:
        try:
            hashes = [_unhex(h, f"proof[{i}]") for i, h in enumerate(proof())]
            merkle.check_consistency(old.size, new.size, old.root, new.root, hashes)
        except (ValueError, merkle.ProofError) as exc:
            result.fail(
                "consistency",
                None,
                f"tree of size {old.size} is not a prefix of size {new.size}: {exc}",
            )
    return len(result.failures) == failures
