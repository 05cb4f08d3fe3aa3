"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, with Ed25519.

A checkpoint body is three lines: the log's origin, the decimal tree size and the
base64 root hash, each ending in a newline (https://c2sp.org/tlog-checkpoint). The
signed note is that body, a blank line, then one line per signature:
``"\u2014 <key name> <base64(4-byte key id || signature)>"`` (https://c2sp.org/signed-note).
The key id is ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`` and the
verifier key string is ``<name>+<hex key id>+<base64(0x01 || public key)>``, exactly
as golang.org/x/mod/sumdb/note writes them, so standard tooling can read our notes.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .durable import make_directories, sync_directory, write_atomically
from .errors import LedgerError

#: Signature type byte for Ed25519 in the signed-note spec.
ALG_ED25519 = 0x01

#: Notes with more signature lines than this are refused (as the Go package does).
MAX_SIGNATURES = 100

#: what every signature line of a signed note starts with: an em dash and a space
SIGNATURE_PREFIX = "\u2014 "
_SIZE_RE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_ROOT_SIZE = 32


class CheckpointError(LedgerError):
    """A signed note, checkpoint, key or key file is malformed or fails to verify."""


class Checkpoint(NamedTuple):
    """A checkpoint's content: the log origin, tree size and root hash."""

    origin: str
    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class NoteKey:
    """A public Ed25519 key of the signed-note family: its name, key id and raw key."""

    #: the signature type byte its key id and written form commit to
    ALG: ClassVar[int] = ALG_ED25519

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        """The ``<name>+<hex id>+<base64(type || key)>`` form."""
        return verifier_key(self.name, self.public_key, self.ALG)

    def ed25519(self) -> Ed25519PublicKey:
        """The key as a ``cryptography`` public key object."""
        return Ed25519PublicKey.from_public_bytes(self.public_key)


class VerifierKey(NoteKey):
    """A parsed signed-note verifier key (Ed25519)."""

    __slots__ = ()


# --------------------------------------------------------------------------- keys


def is_valid_key_name(name: str) -> bool:
    """Whether ``name`` may be a key name: non-empty, no spaces, no '+', no controls."""
    return bool(name) and not any(c.isspace() or c == "+" or c < " " for c in name)


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey | bytes) -> bytes:
    """The raw 32-byte Ed25519 public key of a private key, public key or raw bytes."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(key) != 32:
        raise CheckpointError(f"an Ed25519 public key is 32 bytes, not {len(key)}")
    return bytes(key)


def key_id(
    name: str, public_key: Ed25519PrivateKey | Ed25519PublicKey | bytes, alg: int = ALG_ED25519
) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || alg || public key)[:4]`` (alg 0x01:
    a log's signing key)."""
    raw = public_key_bytes(public_key)
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + raw).digest()[:4]


def verifier_key(
    name: str, public_key: Ed25519PrivateKey | Ed25519PublicKey | bytes, alg: int = ALG_ED25519
) -> str:
    """The signed-note verifier key string ``<name>+<hex key id>+<base64(alg||key)>``."""
    if not is_valid_key_name(name):
        raise CheckpointError(f"invalid key name {name!r}")
    raw = public_key_bytes(public_key)
    encoded = base64.b64encode(bytes([alg]) + raw).decode()
    return f"{name}+{key_id(name, raw, alg).hex()}+{encoded}"


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise CheckpointError("invalid base64") from exc


def key_parts(text: str, what: str) -> tuple[str, bytes, bytes]:
    """A written key's name, key id and decoded ``type || key`` blob, not yet checked
    against each other; ``malformed <what>`` unless it reads ``<name>+<8 hex>+<base64>``."""
    name, _, rest = text.partition("+")
    hex_id, _, b64 = rest.partition("+")
    if not is_valid_key_name(name) or not re.fullmatch(r"[0-9a-fA-F]{8}", hex_id):
        raise CheckpointError(f"malformed {what}")
    try:
        blob = _b64decode(b64)
    except CheckpointError:
        raise CheckpointError(f"malformed {what}") from None
    return name, bytes.fromhex(hex_id), blob


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse and check a verifier key string (name, key id, algorithm, key length)."""
    name, id_, blob = key_parts(text, "verifier key")
    if not blob:
        raise CheckpointError("malformed verifier key")
    if hashlib.sha256(name.encode() + b"\n" + blob).digest()[:4] != id_:
        raise CheckpointError("verifier key id does not match its name and key")
    if blob[0] != ALG_ED25519:
        raise CheckpointError(f"unknown verifier key algorithm {blob[0]:#04x}")
    if len(blob) != 33:
        raise CheckpointError("malformed verifier key: an Ed25519 key is 32 bytes")
    return VerifierKey(name=name, key_id=id_, public_key=blob[1:])


def generate_signing_key() -> Ed25519PrivateKey:
    """A fresh random Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def save_signing_key(key: Ed25519PrivateKey, path: str | Path, *, overwrite: bool = False) -> None:
    """Write the key as unencrypted PKCS#8 PEM, file mode 0600; refuse to replace one."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    target = Path(path)
    make_directories(target.parent, mode=0o700)
    if not overwrite:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CheckpointError(f"signing key file {target} already exists") from None
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        # without it a power loss may take the key file's name back while checkpoints
        # it signed are stored and handed out: the log would come back with a new key
        sync_directory(target.parent)
        return
    write_atomically(target, pem, prefix=".signing-key-")  # mode 0600


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """Read an Ed25519 key from a PKCS#8 PEM file or a raw 32-byte seed file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read signing key {path}: {exc.strerror}") from exc
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"signing key {path} is not a readable PEM key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"signing key {path} is not an Ed25519 key")
        return key
    if len(data) == 32:
        return Ed25519PrivateKey.from_private_bytes(data)
    raise CheckpointError(f"signing key {path} is neither PEM nor a 32-byte seed")


def load_or_create_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """Load the key at ``path``, generating and saving one (mode 0600) if there is none."""
    target = Path(path)
    if not target.exists():
        with contextlib.suppress(CheckpointError):  # created concurrently: load that one
            save_signing_key(generate_signing_key(), target)
    return load_signing_key(target)


# --------------------------------------------------------------------------- notes


def _check_note_chars(text: str) -> None:
    if any(c < " " and c != "\n" for c in text):
        raise CheckpointError("malformed note: control character")


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Sign ``text`` (ending in a newline) as a signed note with one Ed25519 signature."""
    if not is_valid_key_name(name):
        raise CheckpointError(f"invalid key name {name!r}")
    if not text.endswith("\n"):
        raise CheckpointError("malformed note: text must end with a newline")
    _check_note_chars(text)
    signature = key.sign(text.encode())
    blob = key_id(name, key.public_key()) + signature
    return f"{text}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode()}\n"


def signature_line(line: str) -> tuple[str, bytes]:
    """A signature line's key name and decoded blob (key id first), not yet verified."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise CheckpointError("malformed note: bad signature line")
    name, _, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not is_valid_key_name(name) or not b64:
        raise CheckpointError("malformed note: bad signature line")
    try:
        return name, _b64decode(b64)
    except CheckpointError:
        raise CheckpointError("malformed note: bad signature encoding") from None


def open_note(note: str | bytes, key: VerifierKey | str) -> str:
    """Verify a signed note against one known key and return its text.

    Signatures by other keys are ignored; a signature by this key (same name and key
    id) that fails to verify rejects the note, and so does having none.
    """
    known = parse_verifier_key(key) if isinstance(key, str) else key
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("malformed note: not UTF-8") from None
    _check_note_chars(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    text, sigs = note[: split + 1], note[split + 2 :]
    if not sigs.endswith("\n"):
        raise CheckpointError("malformed note: signatures must end with a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError("malformed note: too many signatures")
    verified = False
    for line in lines:
        name, blob = signature_line(line)
        if len(blob) < 5:
            raise CheckpointError("malformed note: signature too short")
        if name != known.name or blob[:4] != known.key_id or verified:
            continue  # another key's signature, or a repeat of ours: ignored
        try:
            known.ed25519().verify(blob[4:], text.encode())
        except InvalidSignature:
            raise CheckpointError(f"invalid signature for key {known.name}") from None
        verified = True
    if not verified:
        raise CheckpointError(f"note has no signature by key {known.name}+{known.key_id.hex()}")
    return text


# --------------------------------------------------------------------------- checkpoints


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """The tlog-checkpoint note text: origin, decimal size, base64 root, newline-ended."""
    if not origin or "\n" in origin or any(c < " " for c in origin):
        raise CheckpointError("the origin must be one non-empty line")
    if size < 0:
        raise CheckpointError("the tree size must not be negative")
    if len(root) != _ROOT_SIZE:
        raise CheckpointError(f"the root hash must be {_ROOT_SIZE} bytes")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def parse_checkpoint_body(text: str) -> Checkpoint:
    """Parse a checkpoint note text; extension lines after the root are allowed, ignored."""
    if not text.endswith("\n"):
        raise CheckpointError("malformed checkpoint: must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise CheckpointError("malformed checkpoint: needs three non-empty lines")
    origin, size_text, root_text = lines[:3]
    if not _SIZE_RE.fullmatch(size_text) or len(size_text) > 20:
        raise CheckpointError(f"malformed checkpoint: bad tree size {size_text!r}")
    size = int(size_text)
    if size >= 1 << 64:
        raise CheckpointError("malformed checkpoint: tree size out of range")
    try:
        root = _b64decode(root_text)
    except CheckpointError:
        root = b""
    if len(root) != _ROOT_SIZE or base64.b64encode(root).decode() != root_text:
        raise CheckpointError("malformed checkpoint: the root is not a base64 SHA-256 hash")
    return Checkpoint(origin=origin, size=size, root=root)


def sign_checkpoint(
    origin: str, size: int, root: bytes, key: Ed25519PrivateKey, *, key_name: str | None = None
) -> str:
    """A signed checkpoint note; the key name defaults to the origin (as C2SP advises)."""
    return sign_note(checkpoint_body(origin, size, root), key_name or origin, key)


def open_checkpoint(
    note: str | bytes, key: VerifierKey | str, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against ``key`` and return ``(origin, size, root)``.

    With ``origin`` given, a checkpoint for any other log is refused too.
    """
    checkpoint = parse_checkpoint_body(open_note(note, key))
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointError(f"checkpoint is for origin {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
