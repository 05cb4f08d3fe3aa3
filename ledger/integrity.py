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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from . import hashing
from .envelope import RecordedEvent, StoredPayload
from .errors import IntegrityError

_sha256 = hashlib.sha256
_HASH = re.compile(r"[0-9a-f]{64}")
#: what a redaction record must say, each as a string
_REDACTION_FIELDS = ("actor", "reason", "redacted_at")
#: the string fields of an event's JSON
_STRINGS = ("id", "claim_id", "type", "occurred_at", "recorded_at", "actor")
_NO_METADATA: Mapping[str, Any] = {}
_new_event = tuple.__new__
_LEAF_DIFFERS = "leaf_hash does not match the committed fields"
_PAYLOAD_DIFFERS = "payload_sha256 is not the hash of data"


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
        hash_problem(event["payload_sha256"], "payload_sha256")
        or hash_problem(event["leaf_hash"], "leaf_hash")
        or (None if prev is None else hash_problem(prev, "prev_hash"))
    )


#: a recorded event's fields in ``RecordedEvent``'s order, as a plain tuple (which
#: unpacks and indexes faster than the named one: the replay checks every event of the log)
EventFields = tuple[str, str, int, int, str, int, Any, str, str, str, Mapping[str, Any], str,
                    Any, str, Any]


def from_json(event: Any) -> RecordedEvent | None:
    """The event of an API answer's JSON if its fields are there with the right types
    (hashes as strings, their form left to the checks), else None: ``format_problem``
    says why."""
    fields = json_fields(event)
    return None if fields is None else _new_event(RecordedEvent, fields)


def json_fields(event: Any) -> EventFields | None:
    """``from_json``'s event as a plain tuple of its fields, or None."""
    # every field read once, types checked inline (this runs for every event of the log)
    try:
        position, version, schema_version = event["position"], event["version"], event[
            "schema_version"]
        event_id, claim, kind = event["id"], event["claim_id"], event["type"]
        data, occurred, recorded = event["data"], event["occurred_at"], event["recorded_at"]
        actor, payload_sha256, leaf_hash = event["actor"], event["payload_sha256"], event[
            "leaf_hash"]
        prev_hash = event["prev_hash"]
        redaction = None if data is not None else event.get("redaction")  # only when needed
    except (KeyError, TypeError, AttributeError):
        return None
    if (
        type(position) is int and position > 0
        and type(version) is int and version > 0
        and type(schema_version) is int and schema_version > 0
        and type(event_id) is str and type(claim) is str and type(kind) is str
        and type(occurred) is str and type(recorded) is str and type(actor) is str
        and type(payload_sha256) is str and type(leaf_hash) is str
    ):
        return (event_id, claim, version, position, kind, schema_version, data, occurred,
                recorded, actor, _NO_METADATA, payload_sha256, prev_hash, leaf_hash, redaction)
    return None


def _leaf(fields: EventFields) -> bytes:
    """The leaf hash of an event's committed fields (``Broken`` if they have no canonical
    form): ``hashing.leaf_hash(event.leaf_input())`` read from the tuple at once."""
    (event_id, claim, version, position, kind, schema_version, _, occurred, recorded,
     actor, _, payload_sha256, prev_hash, _, _) = fields
    try:
        return _sha256(b"\x00" + hashing.leaf_input(
            position=position, id=event_id, claim_id=claim, version=version, type=kind,
            schema_version=schema_version, occurred_at=occurred, recorded_at=recorded,
            actor=actor, payload_sha256=payload_sha256, prev_hash=prev_hash,
        )).digest()
    except Exception as exc:
        raise broken(position, "leaf", f"committed fields have no canonical form: {exc}") from None


def check_payload(position: int, data: Mapping[str, Any], payload_sha256: str) -> bytes:
    """The canonical form of ``data``, the payload at ``position``, which must hash to
    ``payload_sha256``; raises ``Broken``."""
    try:
        plain = type(data) is dict or not isinstance(data, Mapping)
        payload = hashing.canonical_json(data if plain else dict(data))
    except Exception as exc:  # rfc8785 refuses some values (NaN, huge ints)
        raise broken(position, "payload", f"data has no canonical form: {exc}") from None
    if _sha256(payload).hexdigest() != payload_sha256:
        raise broken(position, "payload", _PAYLOAD_DIFFERS)
    return payload


def check_leaf(event: RecordedEvent) -> tuple[bytes, Finding | None]:
    """The leaf hash recomputed from the event's committed fields, and what is wrong if
    it is not the event's ``leaf_hash``; raises ``Broken`` if they have no canonical form."""
    leaf = _leaf(event)
    if leaf.hex() != event.leaf_hash:
        return leaf, Finding(event.position, "leaf", _LEAF_DIFFERS)
    return leaf, None


def check_recorded(
    event: RecordedEvent,
    expected: int,
    previous: tuple[int, str | None],
    last_recorded: str,
) -> bytes | None:
    """Check ``event`` as the log's ``expected``-th, after its claim's ``previous``
    (version, leaf hash) and a ``recorded_at`` of ``last_recorded``; its canonical
    payload (None if redacted). Raises ``Broken`` at the first check that fails."""
    return check_event(event, expected, previous, last_recorded)[0]


def check_event(
    event: EventFields,
    expected: int,
    previous: tuple[int, str | None],
    last_recorded: str,
) -> tuple[bytes | None, bytes]:
    """``check_recorded``, answering the event's leaf hash (bytes) beside its payload."""
    (event_id, claim, version, position, kind, schema_version, data, occurred, recorded,
     actor, _, payload_sha256, prev_hash, leaf_hash, redaction) = event
    if position != expected:
        raise broken(expected, "position", f"position {expected} is missing or out of place"
                     f" (found position {position} next)")
    payload: bytes | None = None
    if type(data) is StoredPayload:
        data = data.value()  # what event.data answers
    if data is None:
        if not isinstance(redaction, Mapping) or not all(
            isinstance(redaction.get(name), str) for name in _REDACTION_FIELDS
        ):
            raise broken(position, "payload", "the payload is gone and no redaction is recorded")
        problem = hash_problem(payload_sha256, "payload_sha256")
        if problem is not None:
            raise broken(position, "format", problem)
    elif type(data) is dict:  # check_payload, inline: this runs for every event of the log
        try:
            payload = hashing.canonical_json(data)
        except Exception:
            payload = check_payload(position, data, payload_sha256)  # raises the finding
        if _sha256(payload).hexdigest() != payload_sha256:
            raise broken(position, "payload", _PAYLOAD_DIFFERS)
    else:
        payload = check_payload(position, data, payload_sha256)
    try:  # _leaf, inline
        leaf = _sha256(b"\x00" + hashing.leaf_input(
            position=position, id=event_id, claim_id=claim, version=version, type=kind,
            schema_version=schema_version, occurred_at=occurred, recorded_at=recorded,
            actor=actor, payload_sha256=payload_sha256, prev_hash=prev_hash,
        )).digest()
    except Exception:
        leaf = _leaf(event)  # raises the finding
    if leaf.hex() != leaf_hash:
        raise broken(position, "leaf", _LEAF_DIFFERS)
    previous_version, previous_leaf = previous
    if version != previous_version + 1:
        raise broken(position, "version", f"claim {claim} version {version}"
                     f" follows version {previous_version}")
    if prev_hash != previous_leaf:
        raise broken(position, "chain", "prev_hash is not the leaf hash of the claim's"
                     " previous event")
    if recorded < last_recorded:
        raise broken(position, "recorded_at", f"recorded_at {recorded} goes back"
                     f" before {last_recorded}")
    return payload, leaf
