"""A made-up log for witness tests: its keys, signed checkpoints, consistency proofs and
add-checkpoint requests, without I/O."""

from __future__ import annotations

import base64
from functools import cache

from ledger import checkpoint as cp
from ledger import merkle, witness
from ledger.hashing import leaf_hash

ORIGIN = "ledger.example.org/witnessed"
LOG_KEY = cp.generate_signing_key()
LOG_VKEY = cp.parse_verifier_key(cp.verifier_key(ORIGIN, LOG_KEY.public_key()))
LOGS = {ORIGIN: [LOG_VKEY]}
WITNESS_KEY = cp.generate_signing_key()
WITNESS = "witness.example.org/w1"


class Log:
    """A log of made-up leaves: roots, signed checkpoints and consistency proofs."""

    def __init__(self, size: int, fork_at: int | None = None) -> None:
        self.leaves = tuple(
            leaf_hash(f"{i}{'-fork' if fork_at is not None and i >= fork_at else ''}".encode())
            for i in range(size)
        )

    @cache  # noqa: B019 - a test helper living as long as the test
    def node(self, level: int, index: int) -> bytes:
        """The hash of the subtree ``index`` at ``level``."""
        return merkle.root_from_leaves(self.leaves[index << level : (index + 1) << level])

    def note(self, size: int, key: object = LOG_KEY, origin: str = ORIGIN) -> str:
        """The signed checkpoint of the log at ``size``."""
        root = merkle.root_at(size, self.node)
        return cp.sign_checkpoint(origin, size, root, key)  # type: ignore[arg-type]

    def proof(self, old: int, new: int) -> list[bytes]:
        """The consistency proof from ``old`` to ``new`` (empty when there is none)."""
        return merkle.consistency_proof(old, new, self.node) if 0 < old < new else []


def request(old: int, proof: list[bytes], note: str) -> bytes:
    """The body of an add-checkpoint request: the old size, the proof, the new note."""
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def seen_of(log: Log, size: int) -> witness.Seen:
    """What a witness records after cosigning ``log`` at ``size``."""
    return witness.Seen(ORIGIN, size, merkle.root_at(size, log.node))
