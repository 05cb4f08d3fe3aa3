"""One integrity check of a recorded event, used by restore, the audit and the verifiers.

``check_recorded`` checks one event against what came before it in the log, in this
order: its position is the next one; its payload hashes to ``payload_sha256`` (or was
redacted, with a record of who, why and when); ``leaf_hash`` is the hash of the eleven
committed fields; the claim's version and ``prev_hash`` follow its previous event; and
``recorded_at`` never goes back. The first disagreement raises ``Broken``, an
``IntegrityError`` carrying a ``Finding`` that names the position and the check.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from . import hashing
from .envelope import RecordedEvent
from .errors import IntegrityError

_HASH = re.compile(r"[0-9a-f]{64}")
#: what a redaction record must say, each as a string
_REDACTION_FIELDS = ("actor", "reason", "redacted_at")


@dataclass(frozen=True, slots=True)
class Finding:
    """A failed check: the position it concerns (None: the whole log), which check, why."""

    #: how a finding about the whole log names its place
    LOG: ClassVar[str] = "log"

    position: int | None
    check: str
    message: str

    def __str__(self) -> str:
        """One line naming the position."""
        where = f"position {self.position}" if self.position is not None else self.LOG
        return f"{where}: {self.check} check failed: {self.message}"


class Broken(IntegrityError):
    """An event, or the log, failed a check: ``finding`` says where and which."""

    def __init__(self, finding: Finding) -> None:
        """Raise ``finding`` as an ``IntegrityError`` at its position."""
        super().__init__(str(finding), finding.position)
        self.finding = finding


def broken(position: int | None, check: str, message: str) -> Broken:
    """The exception for a failed ``check`` at ``position``."""
    return Broken(Finding(position, check, message))


def hash_problem(value: Any, what: str) -> str | None:
    """Why ``value`` is not a lowercase hex SHA-256 hash, or None."""
    if type(value) is not str or _HASH.fullmatch(value) is None:
        return f"{what} is not a lowercase hex SHA-256 hash"
    return None


def check_recorded(
    event: RecordedEvent,
    expected: int,
    previous: tuple[int, str | None],
    last_recorded: str,
) -> bytes | None:
    """Check ``event`` as the log's ``expected``-th, after its claim's ``previous``
    (version, leaf hash) and a ``recorded_at`` of ``last_recorded``; its canonical
    payload (None if redacted). Raises ``Broken`` at the first check that fails."""
    position = event.position
    if position != expected:
        raise broken(expected, "position", f"position {expected} is missing or out of place"
                     f" (found position {position} next)")
    payload: bytes | None = None
    if event.data is None:
        redaction = event.redaction
        if redaction is None or not all(
            isinstance(redaction.get(name), str) for name in _REDACTION_FIELDS
        ):
            raise broken(position, "payload", "the payload is gone and no redaction is recorded")
        problem = hash_problem(event.payload_sha256, "payload_sha256")
        if problem is not None:
            raise broken(position, "format", problem)
    else:
        data = event.data
        try:
            payload = hashing.canonical_json(data if type(data) is dict else dict(data))
        except Exception as exc:  # rfc8785 refuses some values (NaN, huge ints)
            raise broken(position, "payload", f"data has no canonical form: {exc}") from None
        if hashlib.sha256(payload).hexdigest() != event.payload_sha256:
            raise broken(position, "payload", "payload_sha256 is not the hash of data")
    try:
        leaf = hashing.leaf_hash(event.leaf_input()).hex()
    except Exception as exc:
        raise broken(position, "leaf", f"committed fields have no canonical form: {exc}") from None
    if leaf != event.leaf_hash:
        raise broken(position, "leaf", "leaf_hash does not match the committed fields")
    version, prev = previous
    if event.version != version + 1:
        raise broken(position, "version", f"claim {event.claim_id} version {event.version}"
                     f" follows version {version}")
    if event.prev_hash != prev:
        raise broken(position, "chain", "prev_hash is not the leaf hash of the claim's"
                     " previous event")
    if event.recorded_at < last_recorded:
        raise broken(position, "recorded_at", f"recorded_at {event.recorded_at} goes back"
                     f" before {last_recorded}")
    return payload
