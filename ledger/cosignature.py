"""C2SP tlog-cosignature v1 (Ed25519): witnesses' timestamped signatures on checkpoints.

A cosignature is a signed-note signature line ``"\u2014 <name> base64(key id || u64
timestamp || Ed25519 signature)"``. The signed message is ``"cosignature/v1\\n"``,
``"time <timestamp>\\n"`` and then the checkpoint's whole note body. The key id is
``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` and a cosigner's verifier key is
written ``<name>+<hex id>+<base64(0x04 || public key)>`` (https://c2sp.org/tlog-cosignature).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .checkpoint import (
    SIGNATURE_PREFIX,
    CheckpointError,
    NoteKey,
    is_valid_key_name,
    key_id,
    key_parts,
    signature_line,
    verifier_key,
)

#: Signature type byte of an Ed25519 cosignature/v1 key (key ids and verifier keys).
ALG_COSIGNATURE_V1 = 0x04
#: The header line of the signed message (domain separation).
HEADER = "cosignature/v1\n"

_BLOB = 4 + 8 + 64
_MAX_TIME = 2**63 - 1


class CosignerKey(NoteKey):
    """A witness's public cosigning key: its name, key id and raw Ed25519 key."""

    __slots__ = ()
    ALG = ALG_COSIGNATURE_V1


@dataclass(frozen=True, slots=True)
class Cosignature:
    """One verified cosignature: by whom, when (POSIX seconds), and its note line."""

    name: str
    timestamp: int
    line: str


def cosigner_key_id(name: str, public_key: Ed25519PublicKey | bytes) -> bytes:
    """``SHA-256(name || 0x0A || 0x04 || public key)[:4]``."""
    return key_id(name, public_key, ALG_COSIGNATURE_V1)


def cosigner_key(name: str, public_key: Ed25519PrivateKey | Ed25519PublicKey | bytes) -> str:
    """A cosigner's verifier key string (signature type 0x04)."""
    return verifier_key(name, public_key, ALG_COSIGNATURE_V1)


def parse_cosigner_key(text: str) -> CosignerKey:
    """Parse and check a cosigner verifier key (name, id, type 0x04, 32-byte key)."""
    name, id_, blob = key_parts(text.strip(), "witness key")
    if len(blob) != 33 or blob[0] != ALG_COSIGNATURE_V1:
        raise CheckpointError("a witness key is type 0x04 (cosignature/v1) with a 32-byte key")
    if cosigner_key_id(name, blob[1:]) != id_:
        raise CheckpointError("witness key id does not match its name and key")
    return CosignerKey(name, id_, blob[1:])


def signed_message(body: str, timestamp: int) -> bytes:
    """What a cosigner signs: the header, the time line and the checkpoint body."""
    if not 0 <= timestamp <= _MAX_TIME:
        raise CheckpointError("a cosignature timestamp is between 0 and 2**63 - 1")
    return f"{HEADER}time {timestamp}\n{body}".encode()


def cosign(body: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (newline-ended) of ``name`` over a checkpoint note body."""
    if not is_valid_key_name(name):
        raise CheckpointError(f"invalid key name {name!r}")
    signature = key.sign(signed_message(body, timestamp))
    blob = cosigner_key_id(name, key.public_key()) + timestamp.to_bytes(8, "big") + signature
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's body (newline-ended) and its signature lines."""
    split = note.find("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckpointError("malformed note: no blank line before the signatures")
    lines = note[split + 2 : -1].split("\n")
    if not all(line.startswith(SIGNATURE_PREFIX) for line in lines):
        raise CheckpointError("malformed note: bad signature line")
    return note[: split + 1], lines


def verify_cosignatures(
    note: str, keys: list[CosignerKey], *, now: int | None = None
) -> dict[str, Cosignature]:
    """The valid cosignatures on ``note`` by ``keys``, by key name (first valid one wins).

    Lines by other keys are ignored; a line by a known key that fails to verify, or
    (with ``now``) is timestamped in the future, does not count.
    """
    body, lines = split_note(note)
    wanted = {(k.name, k.key_id): k for k in keys}
    found: dict[str, Cosignature] = {}
    for line in lines:
        try:
            name, blob = signature_line(line)
        except CheckpointError:  # not a key's line we can read: no key of ours made it
            continue
        key = wanted.get((name, blob[:4]))
        if key is None or name in found or len(blob) != _BLOB:
            continue
        timestamp = int.from_bytes(blob[4:12], "big")
        if timestamp > _MAX_TIME or (now is not None and timestamp > now):
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                blob[12:], signed_message(body, timestamp)
            )
        except InvalidSignature:
            continue
        found[name] = Cosignature(name, timestamp, line + "\n")
    return found
