"""One signing identity per log: which key may sign its checkpoints, and key rotations.

A log's checkpoints are all signed by one key at a time. Before any process signs it
checks (``check_signing_key``) that its key is the log's: the key that signed the
latest stored checkpoint, or, once a rotation is recorded, the newest key the recorded
rotations lead to. A host with another key or another origin is refused with one line
naming both keys, so it can never sign checkpoints an auditor of the real key rejects.

A rotation (``claimledger rotate-key``) is a signed note over the tree at the size
where the new key takes over, with one extension line naming both verifier keys::

    <origin>
    <size>
    <base64 root>
    rotate-key <old verifier key> <new verifier key>

signed by the old key *and* by the new key: the old key vouches for its successor, the
new key shows it is held by whoever rotated. Anyone who pinned a key of the chain can
follow it (``follow``); a checkpoint signed by a key no recorded rotation links is
refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import checkpoint as cp
from .errors import LedgerError

if TYPE_CHECKING:  # the verifier imports this module without the stores
    from .store.tree import StoredCheckpoint

_EXTENSION = "rotate-key "


class IdentityError(LedgerError):
    """A key or origin that is not the log's, or a rotation record that does not hold."""


class Rotation(Protocol):
    """What following a rotation needs of a recorded one (``KeyRotation``, or JSON)."""

    @property
    def size(self) -> int:
        """The tree size at which the new key takes over."""

    @property
    def old_key(self) -> str:
        """The verifier key rotated away from."""

    @property
    def new_key(self) -> str:
        """The verifier key rotated to."""

    @property
    def note(self) -> str:
        """The rotation note, signed by both keys."""


@dataclass(frozen=True, slots=True)
class RotationRecord:
    """A rotation as read from JSON (``GET /v1/log/key``'s ``rotations``)."""

    size: int
    old_key: str
    new_key: str
    note: str


def key_label(verifier_key: str) -> str:
    """``name+hexid`` of a verifier key: what a person compares."""
    name, _, rest = verifier_key.partition("+")
    return f"{name}+{rest.partition('+')[0]}"


def note_signers(note: str) -> list[str]:
    """The ``name+hexid`` of every signature line of a note (not verified)."""
    split = note.rfind("\n\n")
    signers: list[str] = []
    for line in note[split + 2 :].splitlines() if split >= 0 else []:
        if not line.startswith(cp.SIGNATURE_PREFIX):
            continue
        name, _, b64 = line[len(cp.SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(blob) >= 4:
            signers.append(f"{name}+{blob[:4].hex()}")
    return signers


def rotation_text(origin: str, size: int, root: bytes, old_key: str, new_key: str) -> str:
    """The text both keys sign: the checkpoint body and the ``rotate-key`` line."""
    for key in (old_key, new_key):
        cp.parse_verifier_key(key)
    return cp.checkpoint_body(origin, size, root) + f"{_EXTENSION}{old_key} {new_key}\n"


def sign_rotation(
    origin: str, size: int, root: bytes, old: Ed25519PrivateKey, new: Ed25519PrivateKey
) -> tuple[str, str, str]:
    """``(old verifier key, new verifier key, note)`` of a rotation at ``size``."""
    old_key = cp.verifier_key(origin, old.public_key())
    new_key = cp.verifier_key(origin, new.public_key())
    if old_key == new_key:
        raise IdentityError("the new signing key is the old one")
    text = rotation_text(origin, size, root, old_key, new_key)
    by_old = cp.sign_note(text, origin, old)
    by_new = cp.sign_note(text, origin, new)
    return old_key, new_key, by_old + by_new[len(text) + 1 :]


def open_rotation(rotation: Rotation) -> cp.Checkpoint:
    """Check a rotation note: signed by both keys, naming both; its tree size and root."""
    try:
        text = cp.open_note(rotation.note, rotation.old_key)
        if cp.open_note(rotation.note, rotation.new_key) != text:
            raise cp.CheckpointError("the two signatures cover different texts")
        tree = cp.parse_checkpoint_body(text)
    except cp.CheckpointError as exc:
        raise IdentityError(
            f"the key rotation at size {rotation.size} does not hold: {exc}"
        ) from None
    expected = rotation_text(tree.origin, tree.size, tree.root, rotation.old_key, rotation.new_key)
    if text != expected or tree.size != rotation.size:
        raise IdentityError(
            f"the key rotation at size {rotation.size} does not name the keys it is stored with"
        )
    return tree


def chain(rotations: Sequence[Rotation]) -> list[str]:
    """The log's keys in order (``[first, second, …]``) after checking every rotation.

    Each rotation must start from the key the one before ended with, at no smaller size.
    Empty when nothing was rotated.
    """
    keys: list[str] = []
    size = 0
    for rotation in rotations:
        tree = open_rotation(rotation)
        if keys and rotation.old_key != keys[-1]:
            raise IdentityError(
                f"the key rotation at size {rotation.size} starts from"
                f" {key_label(rotation.old_key)}, not from the log's key then,"
                f" {key_label(keys[-1])}"
            )
        if tree.size < size or rotation.new_key in keys:
            raise IdentityError(f"the key rotation at size {rotation.size} goes back")
        keys.extend([rotation.old_key] if not keys else [])
        keys.append(rotation.new_key)
        size = tree.size
    return keys


@dataclass(frozen=True, slots=True)
class Followed:
    """The key to verify with now, and the rotations followed to reach it from the pin."""

    key: str
    rotations: tuple[Rotation, ...] = ()

    def line(self, pinned: str) -> str | None:
        """What the verifier says when it followed rotations (None when it did not)."""
        if not self.rotations:
            return None
        sizes = ", ".join(str(r.size) for r in self.rotations)
        count = len(self.rotations)
        return (
            f"key: followed {count} recorded rotation{'s' if count > 1 else ''} (at size {sizes})"
            f" from the pinned {key_label(pinned)} to {key_label(self.key)}"
        )


def follow(pinned: str, rotations: Sequence[Rotation]) -> Followed:
    """The log's current key if ``pinned`` is in its checked chain of rotations, else the pin.

    A pin no recorded rotation names stays the key to verify with, so a checkpoint
    signed by an unrecorded key fails as it should.
    """
    keys = chain(rotations)
    if not keys or pinned not in keys or pinned == keys[-1]:
        return Followed(pinned)
    start = keys.index(pinned)
    return Followed(keys[-1], tuple(rotations[start:]))


def _mismatch(ours: str, theirs: str, what: str) -> IdentityError:
    """Why ``ours`` may not sign where ``theirs`` (a verifier key or ``name+id``) does."""
    our_origin, their_origin = ours.partition("+")[0], theirs.partition("+")[0]
    if our_origin != their_origin:
        return IdentityError(
            f"the log's checkpoints are for origin {their_origin!r}, not {our_origin!r}"
            " (LEDGER_LOG_ORIGIN): every host of one log uses its origin and key"
        )
    return IdentityError(
        f"{what} signed by key {key_label(theirs)}, not by this signing key"
        f" {key_label(ours)} (LEDGER_SIGNING_KEY): every host of one log signs with its"
        " key; copy that key file here, or change keys with `claimledger rotate-key`"
    )


class SignedLog(Protocol):
    """What ``check_signing_key`` reads of a store."""

    def key_rotations(self) -> Sequence[Rotation]:
        """Every recorded rotation, oldest first."""

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree, if any."""


def check_signing_key(store: SignedLog, key: Ed25519PrivateKey, origin: str) -> str:
    """Refuse (``IdentityError``) a key or origin that is not the log's; else its verifier key.

    The log's key is the newest one its recorded rotations lead to, else the key that
    signed its latest checkpoint; a log never signed accepts any key.
    """
    ours = cp.verifier_key(origin, key.public_key())
    rotations = store.key_rotations()
    keys = chain(rotations)
    if keys:
        if ours == keys[-1]:
            return ours
        if ours in keys:
            raise IdentityError(
                f"this signing key {key_label(ours)} (LEDGER_SIGNING_KEY) was rotated away at"
                f" size {rotations[keys.index(ours)].size}: the log's key is now"
                f" {key_label(keys[-1])}; copy its key file here"
            )
        raise _mismatch(ours, keys[-1], "since its last recorded rotation the log is")
    latest = store.latest_checkpoint()
    if latest is None:
        return ours
    try:
        cp.open_checkpoint(latest.note, ours, origin=origin)
        return ours
    except cp.CheckpointError:
        pass
    body = latest.note[: latest.note.rfind("\n\n") + 1]
    try:
        their_origin = cp.parse_checkpoint_body(body).origin
    except cp.CheckpointError:
        their_origin = origin
    signers = note_signers(latest.note)
    theirs = next((s for s in signers if s.startswith(their_origin + "+")), f"{their_origin}+?")
    raise _mismatch(ours, theirs, f"the log's latest checkpoint (size {latest.size}) is")
