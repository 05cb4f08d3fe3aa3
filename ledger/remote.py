"""The auditor's check of a ledger over HTTP, with nothing but the standard library.

``verify_remote`` fetches the latest checkpoint, checks its signature against the
pinned verifier key, proves it consistent with the checkpoint saved in the state file
on the previous run (then saves it), and for a claim re-checks the whole history with
its inclusion proofs (``ledger.verifier``). Trusting the server for nothing: every
root it serves is taken from a signed note, never from its JSON.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import checkpoint as cp
from . import identity
from .durable import write_atomically
from .errors import LedgerError
from .verifier import (
    VerificationResult,
    check_consistency,
    verify_checkpoint,
    verify_checkpoint_consistency,
    verify_history,
)


class RemoteError(LedgerError):
    """The ledger's API could not be reached or answered something unexpected."""


class RemoteLog:
    """A minimal client of the ledger's auditor endpoints (urllib)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        """Talk to the API at ``url``, with a bearer ``token`` if given."""
        if not url.startswith(("http://", "https://")):
            raise RemoteError(f"the URL must start with http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        target = self.url + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        request = urllib.request.Request(target, method="GET")  # noqa: S310 - scheme checked
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError, OSError):
                detail = json.loads(exc.read()).get("detail", "")
            raise RemoteError(f"GET {path}: HTTP {exc.code} {detail}".strip()) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteError(f"GET {path}: cannot reach {self.url}: {reason}") from None

    def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return json.loads(self._get(path, params))
        except ValueError:
            raise RemoteError(f"GET {path}: the answer is not JSON") from None

    def checkpoint(self, size: int | None = None) -> str:
        """The latest signed checkpoint note, or the one signed at exactly ``size``."""
        try:
            params = None if size is None else {"size": size}
            return self._get("/v1/log/checkpoint", params).decode("utf-8")
        except UnicodeDecodeError:
            raise RemoteError("GET /v1/log/checkpoint: the note is not UTF-8") from None

    def rotations(self) -> list[identity.RotationRecord]:
        """The log's recorded key rotations, oldest first (``GET /v1/log/key``)."""
        body = self._json("/v1/log/key")
        raw = body.get("rotations", []) if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise RemoteError("GET /v1/log/key: rotations is not a list")
        try:
            return [
                identity.RotationRecord(
                    int(r["size"]), str(r["old_key"]), str(r["new_key"]), str(r["note"])
                )
                for r in raw
            ]
        except (KeyError, TypeError, ValueError):
            raise RemoteError("GET /v1/log/key: a rotation lacks size, keys or note") from None

    def events(self, after: int, limit: int) -> list[Any]:
        """A page of the global feed: the events after position ``after``, at most ``limit``."""
        body = self._json("/v1/events", {"after": after, "limit": limit})
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise RemoteError("GET /v1/events: no items in the answer")
        return items

    def consistency(self, first: int, second: int) -> list[str]:
        """The consistency proof (hex) from size ``first`` to ``second``."""
        body = self._json("/v1/log/proof/consistency", {"from": first, "to": second})
        proof = body.get("proof") if isinstance(body, dict) else None
        if not isinstance(proof, list):
            raise RemoteError("GET /v1/log/proof/consistency: no proof in the answer")
        return proof

    def history(self, claim_id: str, after: int = 0) -> dict[str, Any]:
        """A page of a claim's history (versions after ``after``) with its checkpoint and
        inclusion proofs."""
        path = f"/v1/claims/{urllib.parse.quote(claim_id, safe='')}/history"
        params: dict[str, Any] = {"proofs": "true"}
        if after:
            params["after"] = after
        body = self._json(path, params)
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise RemoteError(f"GET {path}: no events in the answer")
        return body

    def history_pages(self, claim_id: str) -> list[dict[str, Any]]:
        """Every page of a claim's history, following ``next_after`` to the end."""
        pages = [self.history(claim_id)]
        while pages[-1]["events"] and isinstance(pages[-1].get("next_after"), int):
            page = self.history(claim_id, pages[-1]["next_after"])
            if not page["events"]:
                break
            pages.append(page)
        return pages


@dataclass(slots=True)
class RemoteReport:
    """The outcome: merged checks, the newest checkpoint seen, and what was said on the way."""

    result: VerificationResult = field(default_factory=VerificationResult)
    checkpoint: cp.Checkpoint | None = None
    note: str | None = None
    lines: list[str] = field(default_factory=list)
    #: the tree sizes whose signed checkpoints were verified
    signed_sizes: set[int] = field(default_factory=set)
    #: events checked (payload, leaf, chain), by a claim's history or a replay
    events: int = 0
    #: consistency proofs verified (two checkpoints of one size need none: roots compared)
    consistency_proofs: int = 0

    def merge(self, other: VerificationResult) -> VerificationResult:
        """Add ``other``'s checks and failures to this report; returns ``other``."""
        self.result.checks.update(other.checks)
        self.result.failures.extend(other.failures)
        self.result.redacted.extend(other.redacted)
        return other

    @property
    def proofs(self) -> int:
        """Inclusion and consistency proofs verified."""
        return self.result.checks["inclusion"] + self.consistency_proofs

    def counts(self) -> str:
        """What was checked, in counts: never an OK over nothing."""
        return (
            f"checked: {self.events} events, {self.proofs} proofs,"
            f" {len(self.signed_sizes)} checkpoints"
        )


#: a further check of the newest checkpoint (e.g. its witnesses' cosignatures): it gets the
#: log, the signed note (its signature by the log already verified) and the report to add to
CheckpointCheck = Callable[[RemoteLog, str, RemoteReport], None]


def _consistent(
    log: RemoteLog, report: RemoteReport, old: str, new: str, key: str, what: str
) -> None:
    """Check that the tree of note ``old`` is a prefix of the tree of note ``new``."""
    proof: list[str] = []
    try:
        first, second = _size(old, key), _size(new, key)
    except cp.CheckpointError:
        first = second = 0  # the check below reports which note fails
    if 0 < first < second:
        proof = log.consistency(first, second)
    checked = report.merge(verify_checkpoint_consistency(old, new, proof, key))
    if checked.ok:
        report.consistency_proofs += 1 if proof else 0
        report.lines.append(f"consistency: {what} (size {first}) is a prefix of size {second}")


def _consistent_with_saved(
    log: RemoteLog, report: RemoteReport, saved: str, new_note: str, key: str
) -> None:
    """Check that the tree of the checkpoint saved by an earlier run is a prefix of the new one.

    The saved note was verified when it was saved, so its content is trusted as is: it
    may carry a key the log has since rotated away from.
    """
    result = report.result
    try:
        old = cp.parse_checkpoint_body(saved[: saved.find("\n\n") + 1])
    except cp.CheckpointError as exc:
        result.checks["consistency"] += 1
        result.fail("consistency", None, f"the saved checkpoint is unreadable: {exc}")
        return
    new = cp.parse_checkpoint_body(cp.open_note(new_note, key))
    proof: Sequence[str] = []

    def fetch() -> Sequence[str]:
        nonlocal proof
        proof = log.consistency(old.size, new.size) if 0 < old.size < new.size else []
        return proof

    if not check_consistency(old, new, fetch, result):
        return
    report.consistency_proofs += 1 if proof else 0
    report.lines.append(
        f"consistency: the saved checkpoint (size {old.size}) is a prefix of size {new.size}"
    )


def follow_rotations(log: RemoteLog, pinned: str, note: str, report: RemoteReport) -> str:
    """The key to verify ``note`` and the rest of the run with: the pinned one, or when it
    does not sign ``note``, the key the log's recorded rotations lead to from it (each
    rotation note checked against its old and its new key). Says so in the report."""
    if verify_checkpoint(note, pinned).ok:
        return pinned
    try:
        followed = identity.follow(pinned, log.rotations())
    except identity.IdentityError as exc:
        report.result.fail("checkpoint", None, str(exc))
        return pinned
    line = followed.line(pinned)
    if line is not None:
        report.lines.append(line)
    return followed.key


def read_state(path: Path) -> str | None:
    """The checkpoint note saved by the previous run, if any.

    The file is the note itself, or (written by ``verify --all``) a JSON object whose
    ``note`` is it, beside the replay's own state.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if text.startswith("{"):
        try:
            note = json.loads(text).get("note")
        except (ValueError, AttributeError):
            raise RemoteError(f"the state file {path} is not a saved checkpoint") from None
        return note if isinstance(note, str) else None
    return text


def save_state(path: Path, note: str) -> None:
    """Save a checkpoint note atomically and durably (a power loss keeps it)."""
    write_atomically(path, note.encode("utf-8"), prefix=".verify-state-")


def verify_remote(
    log: RemoteLog,
    verifier_key: str,
    *,
    claim_id: str | None = None,
    state: Path | None = None,
    checkpoint_checks: Sequence[CheckpointCheck] = (),
) -> RemoteReport:
    """Check the log at ``log`` against the pinned key; saves the state only when all passed.

    Each of ``checkpoint_checks`` is run on the newest checkpoint once its signature holds.
    """
    cp.parse_verifier_key(verifier_key)  # a malformed pinned key is the caller's error
    report = RemoteReport()
    note = log.checkpoint()
    verifier_key = follow_rotations(log, verifier_key, note, report)
    if not report.result.ok or not report.merge(verify_checkpoint(note, verifier_key)).ok:
        return report
    newest = note
    report.signed_sizes.add(_size(note, verifier_key))
    report.lines.append(f"checkpoint: size {_size(note, verifier_key)}, signature verified")
    if claim_id is not None:
        checked_note = _verify_claim(log, report, claim_id, note, verifier_key)
        if checked_note is None:
            return report
        newest = checked_note
    for check in checkpoint_checks:
        check(log, newest, report)
    saved = read_state(state) if state is not None else None
    if saved is not None:
        _consistent_with_saved(log, report, saved, newest, verifier_key)
    report.note = newest
    report.checkpoint = cp.parse_checkpoint_body(cp.open_note(newest, verifier_key))
    if state is not None and report.result.ok:
        save_state(state, newest)
        report.lines.append(f"state saved to {state}")
    return report


def _verify_claim(
    log: RemoteLog, report: RemoteReport, claim_id: str, note: str, verifier_key: str
) -> str | None:
    """Verify every page of a claim's history, each against the checkpoint it came with,
    and those checkpoints consistent with each other and the log's; the newest note."""
    notes = [note]
    start, start_leaf, count = 0, None, 0
    redacted: list[int] = []
    for body in log.history_pages(claim_id):
        history_note = body.get("checkpoint")
        if not isinstance(history_note, str):
            report.result.fail("checkpoint", None, "the history came without a checkpoint")
            return None
        events = body["events"]
        checked = report.merge(verify_history(
            events, history_note, verifier_key, claim_id=claim_id, start=start,
            start_leaf=start_leaf,
        ))
        if checked.checkpoint is None:
            return None
        report.signed_sizes.add(checked.checkpoint.size)
        report.events += checked.checks["format"]
        redacted += checked.redacted
        notes.append(history_note)
        count += len(events)
        last = events[-1] if events else {}
        start = last.get("version", start) if isinstance(last.get("version"), int) else start
        start_leaf = last.get("leaf_hash") if isinstance(last.get("leaf_hash"), str) else None
    sizes = {n: _size(n, verifier_key) for n in notes}
    if report.result.ok:
        report.lines.append(
            f"claim {claim_id}: {count} events, payloads, chain and inclusion"
            f" proofs verified against size {max(sizes[n] for n in notes[1:])}"
        )
    if redacted:
        report.lines.append(
            f"redacted payloads (hash kept, not checkable) at positions {redacted}"
        )
    ordered = sorted(dict.fromkeys(notes), key=lambda n: sizes[n])
    pairs = list(itertools.pairwise(ordered)) or [(note, note)]
    for smaller, larger in pairs:
        _consistent(log, report, smaller, larger, verifier_key, "the log's checkpoint")
    return ordered[-1]


def _size(note: str, key: str) -> int:
    return cp.parse_checkpoint_body(cp.open_note(note, key)).size
