"""Signed checkpoints: C2SP signed-note and tlog-checkpoint formats, Ed25519 keys."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import checkpoint as cp

# Known answers from golang.org/x/mod/sumdb/note's tests (note_test.go).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
NOTE_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwn"
    "WLox33WWd1RvMc+QQ=\n"
)

# Real checkpoints of the Go checksum database, signed by its published key.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n"
    "— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3c"
    "VtYspg3dxXABkGZZKdsQ8=\n"
)


def _peter_key() -> Ed25519PrivateKey:
    blob = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert blob[0] == cp.ALG_ED25519
    return Ed25519PrivateKey.from_private_bytes(blob[1:])


def _root(tag: bytes = b"root") -> bytes:
    return hashlib.sha256(tag).digest()


# --------------------------------------------------------------------------- known answers


def test_go_note_package_known_answer_signature() -> None:
    """Our signed note is byte for byte the one Go's note.Sign produces."""
    assert cp.sign_note(NOTE_TEXT, "PeterNeumann", _peter_key()) == NOTE_TEXT + "\n" + PETER_SIG


def test_go_note_package_known_answer_key_id_and_verifier_key() -> None:
    key = _peter_key()
    assert cp.key_id("PeterNeumann", key.public_key()).hex() == "c74f20a3"
    assert cp.verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY
    parsed = cp.parse_verifier_key(PETER_VKEY)
    assert parsed.name == "PeterNeumann"
    assert parsed.key_id == bytes.fromhex("c74f20a3")
    assert parsed.public_key == cp.public_key_bytes(key)
    assert str(parsed) == PETER_VKEY


def test_key_id_is_the_spec_formula() -> None:
    key = cp.generate_signing_key()
    raw = cp.public_key_bytes(key)
    want = hashlib.sha256(b"log.example/x" + b"\x0a" + b"\x01" + raw).digest()[:4]
    assert cp.key_id("log.example/x", raw) == want
    assert cp.verifier_key("log.example/x", raw).split("+")[1] == want.hex()


def test_go_note_package_open_with_known_and_unknown_signers() -> None:
    note = NOTE_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert cp.open_note(note, PETER_VKEY) == NOTE_TEXT  # Enoch's signature is ignored
    assert cp.open_note(note, ENOCH_VKEY) == NOTE_TEXT  # and vice versa
    with pytest.raises(cp.CheckpointError, match="no signature by key"):
        cp.open_note(NOTE_TEXT + "\n" + ENOCH_SIG, PETER_VKEY)


def test_go_note_package_invalid_signature_rejects_the_note() -> None:
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(cp.CheckpointError, match="invalid signature"):
        cp.open_note(NOTE_TEXT + "\n" + bad, PETER_VKEY)


@pytest.mark.parametrize(
    "note",
    [
        NOTE_TEXT.encode(),
        (NOTE_TEXT + "\n").encode(),
        (NOTE_TEXT + "\n" + PETER_SIG[:-1]).encode(),
        ("\x01" + NOTE_TEXT + "\n" + PETER_SIG).encode(),
        b"\xff" + (NOTE_TEXT + "\n" + PETER_SIG).encode(),
        (NOTE_TEXT + "\n" + "— Bad Name " + PETER_SIG.split(" ")[2]).encode(),
        (NOTE_TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
        (NOTE_TEXT + "\n" + PETER_SIG * 101).encode(),
        (NOTE_TEXT + "\n" + PETER_SIG.replace("— ", "-- ")).encode(),
    ],
    ids=[
        "no-sigs",
        "blank-only",
        "no-final-newline",
        "control-char",
        "not-utf8",
        "bad-name",
        "unexpected-line",
        "too-many",
        "ascii-dashes",
    ],
)
def test_go_note_package_malformed_notes(note: bytes) -> None:
    with pytest.raises(cp.CheckpointError, match="malformed"):
        cp.open_note(note, PETER_VKEY)


def test_go_note_package_verifier_key_manglings_are_refused() -> None:
    b = PETER_VKEY
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(cp.CheckpointError):
                    cp.parse_verifier_key(b[i:j])
    for i in range(len(b)):
        mangled = b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :]
        with pytest.raises(cp.CheckpointError):
            cp.parse_verifier_key(mangled)
    # wrong key length and unknown algorithm, each with a matching key id
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(cp.CheckpointError):
            cp.parse_verifier_key(bad)


def test_real_sum_golang_org_checkpoint_opens() -> None:
    tree = cp.open_checkpoint(SUMDB_NOTE, SUMDB_VKEY)
    assert tree.origin == "go.sum database tree"
    assert tree.size == 65209736
    assert tree.root == base64.b64decode("5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=")
    with pytest.raises(cp.CheckpointError, match="invalid signature"):
        cp.open_checkpoint(SUMDB_NOTE.replace("65209736", "65209737"), SUMDB_VKEY)


# --------------------------------------------------------------------------- round trips


def test_sign_and_open_checkpoint_round_trip() -> None:
    key = cp.generate_signing_key()
    vkey = cp.verifier_key("ledger.example/log", key.public_key())
    note = cp.sign_checkpoint("ledger.example/log", 42, _root(), key)
    body, _, sig_line = note.partition("\n\n")
    assert body == f"ledger.example/log\n42\n{base64.b64encode(_root()).decode()}"
    assert sig_line.startswith("\u2014 ledger.example/log ")
    assert sig_line.endswith("\n")
    assert sig_line.count("\n") == 1
    blob = base64.b64decode(sig_line.split(" ")[2])
    assert len(blob) == 4 + 64
    assert blob[:4] == cp.key_id("ledger.example/log", key.public_key())
    origin, size, root = cp.open_checkpoint(note, vkey)
    assert (origin, size, root) == ("ledger.example/log", 42, _root())
    assert cp.open_checkpoint(note.encode(), cp.parse_verifier_key(vkey)).size == 42


def test_empty_tree_checkpoint() -> None:
    key = cp.generate_signing_key()
    note = cp.sign_checkpoint("ledger.example/log", 0, hashlib.sha256().digest(), key)
    vkey = cp.verifier_key("ledger.example/log", key.public_key())
    assert cp.open_checkpoint(note, vkey).size == 0


def test_tampered_body_is_rejected() -> None:
    key = cp.generate_signing_key()
    vkey = cp.verifier_key("ledger.example/log", key.public_key())
    note = cp.sign_checkpoint("ledger.example/log", 42, _root(), key)
    for tampered in (
        note.replace("\n42\n", "\n43\n"),
        note.replace(base64.b64encode(_root()).decode(), base64.b64encode(_root(b"x")).decode()),
        note.replace("ledger.example/log\n", "ledger.example/lag\n", 1),
    ):
        with pytest.raises(cp.CheckpointError, match="invalid signature"):
            cp.open_checkpoint(tampered, vkey)


def test_tampered_signature_is_rejected() -> None:
    key = cp.generate_signing_key()
    vkey = cp.verifier_key("ledger.example/log", key.public_key())
    note = cp.sign_checkpoint("ledger.example/log", 7, _root(), key)
    prefix, b64 = note[:-1].rsplit(" ", 1)
    blob = bytearray(base64.b64decode(b64))
    for i in (4, 30, len(blob) - 1):  # signature bytes, not the key id
        blob[i] ^= 0x20
        with pytest.raises(cp.CheckpointError, match="invalid signature"):
            cp.open_checkpoint(f"{prefix} {base64.b64encode(bytes(blob)).decode()}\n", vkey)
        blob[i] ^= 0x20
    blob[0] ^= 0x01  # key id changed: no longer this key's signature
    with pytest.raises(cp.CheckpointError, match="no signature by key"):
        cp.open_checkpoint(f"{prefix} {base64.b64encode(bytes(blob)).decode()}\n", vkey)


def test_wrong_key_is_rejected() -> None:
    key, other = cp.generate_signing_key(), cp.generate_signing_key()
    note = cp.sign_checkpoint("ledger.example/log", 7, _root(), key)
    with pytest.raises(cp.CheckpointError, match="no signature by key"):
        cp.open_checkpoint(note, cp.verifier_key("ledger.example/log", other.public_key()))
    with pytest.raises(cp.CheckpointError, match="no signature by key"):
        cp.open_checkpoint(note, cp.verifier_key("other.example/log", key.public_key()))
    # same name and key id but another key: verifying is attempted and fails
    forged = cp.VerifierKey(
        "ledger.example/log", cp.key_id("ledger.example/log", key.public_key()),
        cp.public_key_bytes(other),
    )  # fmt: skip
    with pytest.raises(cp.CheckpointError, match="invalid signature"):
        cp.open_checkpoint(note, forged)


def test_signature_by_another_log_alongside_ours_is_ignored() -> None:
    key, witness = cp.generate_signing_key(), cp.generate_signing_key()
    note = cp.sign_checkpoint("ledger.example/log", 7, _root(), key)
    cosigned = cp.sign_note(
        cp.checkpoint_body("ledger.example/log", 7, _root()), "w.example", witness
    )
    both = note + cosigned.rsplit("\n\n", 1)[1]
    vkey = cp.verifier_key("ledger.example/log", key.public_key())
    assert cp.open_checkpoint(both, vkey).size == 7


def test_origin_is_checked_when_given() -> None:
    key = cp.generate_signing_key()
    note = cp.sign_checkpoint("ledger.example/log", 7, _root(), key, key_name="ledger.example/k")
    vkey = cp.verifier_key("ledger.example/k", key.public_key())
    assert (
        cp.open_checkpoint(note, vkey, origin="ledger.example/log").origin == "ledger.example/log"
    )
    with pytest.raises(cp.CheckpointError, match="origin"):
        cp.open_checkpoint(note, vkey, origin="elsewhere.example/log")


@pytest.mark.parametrize(
    "body",
    [
        "o\n42\n",  # no root
        "o\n042\n{root}\n",  # leading zero
        "o\n-1\n{root}\n",
        "o\n4_2\n{root}\n",
        "o\n\u0664\u0662\n{root}\n",  # non-ASCII digits
        "o\n42\n{root}",  # no final newline
        "o\n42\n{short}\n",
        "o\n42\n{unpadded}\n",
        "\n42\n{root}\n",
        "o\n42\n{root}\n\nx\n",  # empty extension line
    ],
)
def test_malformed_checkpoint_bodies(body: str) -> None:
    root = base64.b64encode(_root()).decode()
    text = body.format(
        root=root,
        short=base64.b64encode(b"x" * 31).decode(),
        unpadded=root.rstrip("="),
    )
    with pytest.raises(cp.CheckpointError, match="malformed"):
        cp.parse_checkpoint_body(text)


def test_extension_lines_are_allowed() -> None:
    root = base64.b64encode(_root()).decode()
    assert cp.parse_checkpoint_body(f"o\n5\n{root}\next one\n").size == 5


def test_signing_refuses_bad_input() -> None:
    key = cp.generate_signing_key()
    with pytest.raises(cp.CheckpointError):
        cp.sign_checkpoint("ledger.example/log", 1, b"short", key)
    with pytest.raises(cp.CheckpointError):
        cp.sign_checkpoint("ledger.example/log", -1, _root(), key)
    with pytest.raises(cp.CheckpointError):
        cp.sign_checkpoint("two\nlines", 1, _root(), key, key_name="k")
    with pytest.raises(cp.CheckpointError, match="key name"):
        cp.sign_checkpoint("go.sum database tree", 1, _root(), key)  # not a key name
    with pytest.raises(cp.CheckpointError):
        cp.sign_note("no newline", "k", key)


# --------------------------------------------------------------------------- key files


def test_key_file_round_trip_with_mode_0600(tmp_path: Path) -> None:
    key = cp.generate_signing_key()
    path = tmp_path / "signing.key"
    cp.save_signing_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = cp.load_signing_key(path)
    assert cp.public_key_bytes(loaded) == cp.public_key_bytes(key)


def test_key_file_is_not_replaced_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    first, second = cp.generate_signing_key(), cp.generate_signing_key()
    cp.save_signing_key(first, path)
    with pytest.raises(cp.CheckpointError, match="already exists"):
        cp.save_signing_key(second, path)
    assert cp.public_key_bytes(cp.load_signing_key(path)) == cp.public_key_bytes(first)
    path.chmod(0o644)
    cp.save_signing_key(second, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cp.public_key_bytes(cp.load_signing_key(path)) == cp.public_key_bytes(second)


def test_load_or_create(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    created = cp.load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = cp.load_or_create_signing_key(path)
    assert cp.public_key_bytes(again) == cp.public_key_bytes(created)


def test_raw_seed_key_file(tmp_path: Path) -> None:
    path = tmp_path / "seed"
    path.write_bytes(bytes(range(32)))
    key = cp.load_signing_key(path)
    assert cp.public_key_bytes(key) == cp.public_key_bytes(
        Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    )


@pytest.mark.parametrize("content", [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nxx\n"])
def test_unreadable_key_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(cp.CheckpointError):
        cp.load_signing_key(path)
    with pytest.raises(cp.CheckpointError, match="cannot read"):
        cp.load_signing_key(tmp_path / "missing")
