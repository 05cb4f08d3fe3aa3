"""A C2SP tlog-witness's decision on ``add-checkpoint``, with no I/O.

The request body is ``"old <size>\\n"``, up to 63 base64 consistency-proof lines, a
blank line, then a signed checkpoint (https://c2sp.org/tlog-witness). ``decide`` checks
it against the logs the witness follows and the latest checkpoint it cosigned for that
origin, and answers either the new state to keep or the refusal to send: 400 malformed,
403 no trusted signature, 404 unknown origin, 409 stale old size (body: the witness's
size) or same size with another root, 422 a consistency proof that does not verify.
The caller reads the state, calls ``decide`` and writes the new state atomically.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import checkpoint as cp
from . import merkle

#: the most consistency-proof lines a request may carry
MAX_PROOF_LINES = 63
#: the largest request body a witness reads
MAX_BODY = 16 * 1024
#: Content-Type of a 409's body (the witness's size)
SIZE_TYPE = "text/x.tlog.size"

_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


#: the latest checkpoint a witness cosigned for one origin: its origin, size and root
Seen = cp.Checkpoint


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a checkpoint is not cosigned: HTTP status, body and its content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Accepted:
    """A checkpoint to cosign: the state to keep and the note body to sign."""

    seen: Seen
    body: str


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed ``add-checkpoint`` body: old size, proof and the signed note."""

    old: int
    proof: list[bytes]
    note: str
    origin: str


def parse_request(raw: bytes) -> Request | Refusal:
    """Split an ``add-checkpoint`` body; a malformed one is a 400."""
    if len(raw) > MAX_BODY:
        return Refusal(400, "request body too large\n")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal(400, "request body is not UTF-8\n")
    head, sep, note = text.partition("\n\n")
    if not sep:
        return Refusal(400, "no blank line after the old size and proof\n")
    lines = head.split("\n")
    found = _OLD.fullmatch(lines[0])
    if found is None:
        return Refusal(400, "the first line must be 'old <size>'\n")
    if len(lines) - 1 > MAX_PROOF_LINES:
        return Refusal(400, f"more than {MAX_PROOF_LINES} consistency proof lines\n")
    proof: list[bytes] = []
    for line in lines[1:]:
        try:
            value = base64.b64decode(line.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            value = b""
        if len(value) != merkle.HASH_SIZE:
            return Refusal(400, "a consistency proof line is not a base64 SHA-256 hash\n")
        proof.append(value)
    origin = note.partition("\n")[0]
    return Request(int(found.group(1)), proof, note, origin)


def decide(
    raw: bytes, logs: Mapping[str, Sequence[cp.VerifierKey]], seen: Seen | None
) -> Accepted | Refusal:
    """Whether to cosign the checkpoint in ``raw`` given what was ``seen`` for its origin.

    ``logs`` maps each followed origin to the log keys trusted for it; ``seen`` must be
    the state of the request's origin (``origin_of`` tells which to read).
    """
    request = parse_request(raw)
    if isinstance(request, Refusal):
        return request
    keys = logs.get(request.origin)
    if not keys:
        return Refusal(404, f"unknown log origin {request.origin!r}\n")
    checkpoint: cp.Checkpoint | None = None
    for key in keys:
        try:
            checkpoint = cp.open_checkpoint(request.note, key, origin=request.origin)
            break
        except cp.CheckpointError:
            continue
    if checkpoint is None:
        return Refusal(403, "no valid signature by a key trusted for this log\n")
    body = request.note[: request.note.find("\n\n") + 1]
    if request.old > checkpoint.size:
        return Refusal(400, "the old size is larger than the checkpoint's\n")
    latest = seen.size if seen is not None else 0
    if request.old != latest:
        return Refusal(409, f"{latest}\n", SIZE_TYPE)
    if request.old == 0:
        if request.proof:
            return Refusal(400, "the proof must be empty when the old size is 0\n")
    elif seen is not None and request.old == checkpoint.size:
        if seen.root != checkpoint.root:
            return Refusal(409, f"{latest}\n", SIZE_TYPE)
        if request.proof:
            return Refusal(422, "the proof must be empty when the sizes are equal\n")
    elif seen is not None:
        try:
            merkle.check_consistency(
                request.old, checkpoint.size, seen.root, checkpoint.root, request.proof
            )
        except merkle.ProofError as exc:
            return Refusal(422, f"the consistency proof does not verify: {exc}\n")
    return Accepted(Seen(checkpoint.origin, checkpoint.size, checkpoint.root), body)


def origin_of(raw: bytes) -> str | None:
    """The origin line of an ``add-checkpoint`` body (None if it has none)."""
    request = parse_request(raw)
    return None if isinstance(request, Refusal) else request.origin
