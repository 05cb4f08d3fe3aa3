"""One signing identity per log: the checks ``init``/``serve``/``checkpoint`` run, and
``claimledger rotate-key``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import checkpoint as cp
from ledger.identity import (
    IdentityError,
    check_signing_key,
    key_label,
    note_signers,
    sign_rotation,
)
from ledger.log import LogService
from ledger.store import EventStore
from ledger.store.rotations import KeyRotation, RotationConflict
from ledger.timeutil import format_time, utcnow

from ..settings import Settings
from .store import store_from


def no_key_for_a_signed_log(settings: Settings, store: EventStore) -> None:
    """Refuse when this host has no signing key but the log already has checkpoints."""
    latest = store.latest_checkpoint()
    rotations = store.key_rotations()
    if latest is None and not rotations:
        return
    if rotations:
        signer = key_label(rotations[-1].new_key)
    else:
        assert latest is not None
        signer = next(iter(note_signers(latest.note)), "an unknown key")
    raise IdentityError(
        f"the log already has checkpoints signed by key {signer} and this host has no signing"
        f" key at {settings.signing_key} (LEDGER_SIGNING_KEY): copy the log's key file there"
        " (every host of one log signs with one key) instead of creating another"
    )


def checked_key(settings: Settings, store: EventStore) -> Ed25519PrivateKey | None:
    """This host's signing key once it is the log's (``IdentityError`` if not); None if
    there is no key file and the log was never signed."""
    if not Path(settings.signing_key).exists():
        no_key_for_a_signed_log(settings, store)
        return None
    key = cp.load_signing_key(settings.signing_key)
    check_signing_key(store, key, settings.log_origin)
    return key


@click.command("rotate-key")
@click.option("--new-key", "new_path", type=click.Path(dir_okay=False, path_type=Path),
              help="the new key file (PEM or 32-byte seed); made if it does not exist"
              " (default: a new key, kept at LEDGER_SIGNING_KEY.next until installed)")
@click.option("--keep-old", "old_path", type=click.Path(dir_okay=False, path_type=Path),
              help="where the old key file is kept (default:"
              " LEDGER_SIGNING_KEY.retired-<key id>)")
@click.pass_obj
def rotate_key(settings: Settings, new_path: Path | None, old_path: Path | None) -> None:
    """Change the log's signing key and record the change in the log for auditors.

    Signs the current head with the old key, records a rotation note signed by both
    keys (auditors who pinned the old key follow it), keeps the old key file and puts
    the new one at LEDGER_SIGNING_KEY. Restart every `serve` with the new key file.
    """
    store = store_from(settings)
    key_path = Path(settings.signing_key)
    if not key_path.exists():
        raise IdentityError(f"no signing key at {key_path} (LEDGER_SIGNING_KEY) to rotate from")
    old = checked_key(settings, store)
    assert old is not None
    staged = new_path or key_path.with_name(key_path.name + ".next")
    if old_path is not None and old_path.resolve() in (key_path.resolve(), staged.resolve()):
        # the old key would be overwritten by the new one (or be it): lost for good
        raise IdentityError(f"--keep-old {old_path} is where the new key goes; keep the old"
                            " key in another file")
    new = cp.load_or_create_signing_key(staged)  # on disk before the log names it
    origin = settings.log_origin
    head = LogService(store, old, origin).issue()  # the old key's last word: the head
    old_key, new_key, note = sign_rotation(origin, head.size, head.root, old, new)
    kept = old_path or key_path.with_name(f"{key_path.name}.retired-{old_key.split('+')[1]}")
    _keep(old, kept)
    seq = len(store.key_rotations()) + 1
    try:
        store.add_key_rotation(
            KeyRotation(seq, head.size, old_key, new_key, note, format_time(utcnow()))
        )
    except RotationConflict:
        raise IdentityError(
            "another rotation was recorded meanwhile, or the new key was used before:"
            " nothing changed"
        ) from None
    cp.save_signing_key(new, key_path, overwrite=True)
    if new_path is None:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
    click.echo(f"rotated the signing key at size {head.size}: {key_label(old_key)} ->"
               f" {key_label(new_key)}, recorded in the log")
    click.echo(f"the old key file is kept at {kept}; the new one is at {key_path}")
    click.echo(f"new verifier key {new_key}")
    click.echo("restart every `claimledger serve` of this log with the new key file")


def _keep(key: Ed25519PrivateKey, path: Path) -> None:
    """Save the old key at ``path`` (already there from an earlier attempt is fine)."""
    if path.exists():
        if cp.public_key_bytes(cp.load_signing_key(path)) != cp.public_key_bytes(key):
            raise IdentityError(f"{path} already holds another key: pass --keep-old")
        return
    cp.save_signing_key(key, path)


def register(group: click.Group) -> None:
    """Add ``rotate-key`` to the CLI group."""
    group.add_command(rotate_key)
