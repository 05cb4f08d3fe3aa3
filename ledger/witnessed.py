"""Witnessed checkpoints: the configured witnesses, cosignature lines on a note, quorums.

A witness is configured as ``<cosigner verifier key>@<URL>`` (``LEDGER_WITNESSES``,
several separated by spaces or commas): the key checks its answers, the URL is its
submission prefix. A checkpoint is witnessed by a quorum when at least ``minimum`` of
the trusted witness keys cosigned exactly its note body (tlog-cosignature v1).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .checkpoint import CheckpointError
from .cosignature import Cosignature, CosignerKey, parse_cosigner_key, verify_cosignatures
from .remote import CheckpointCheck, RemoteLog, RemoteReport


@dataclass(frozen=True, slots=True)
class WitnessTarget:
    """A witness the log sends its checkpoints to: its key and submission URL."""

    key: CosignerKey
    url: str

    @property
    def add_checkpoint_url(self) -> str:
        """The witness's ``add-checkpoint`` endpoint."""
        return self.url.rstrip("/") + "/add-checkpoint"


def parse_witnesses(text: str | Iterable[str]) -> list[WitnessTarget]:
    """``KEY@URL`` entries (a string splits on spaces and commas) as witness targets."""
    entries = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    targets: list[WitnessTarget] = []
    for entry in entries:
        at = max(entry.rfind("@http://"), entry.rfind("@https://"))
        if at < 0:
            raise CheckpointError(
                f"a witness is KEY@URL (its cosigner key, then http(s)://…), not {entry!r}"
            )
        targets.append(WitnessTarget(parse_cosigner_key(entry[:at]), entry[at + 1 :]))
    return targets


def with_cosignatures(note: str, lines: Iterable[str]) -> str:
    """``note`` with cosignature lines appended (each newline-ended; repeats dropped)."""
    present = set(note.split("\n"))
    extra = [line if line.endswith("\n") else line + "\n" for line in lines]
    return note + "".join(line for line in extra if line[:-1] not in present)


@dataclass(frozen=True, slots=True)
class Quorum:
    """How many trusted witnesses cosigned a note, out of how many are required."""

    found: dict[str, Cosignature]
    minimum: int

    @property
    def ok(self) -> bool:
        """Whether enough witnesses cosigned."""
        return len(self.found) >= self.minimum

    def describe(self) -> str:
        """One line for a report."""
        names = ", ".join(sorted(self.found)) or "none"
        return f"{len(self.found)} of the required {self.minimum} witnesses cosigned ({names})"


def quorum(
    note: str, keys: Sequence[CosignerKey], minimum: int, *, now: int | None = None
) -> Quorum:
    """The valid cosignatures of ``note`` by ``keys`` against the ``minimum`` required."""
    if not 0 <= minimum <= len(keys):
        raise CheckpointError(
            f"cannot require {minimum} witnesses when {len(keys)} witness keys are trusted"
        )
    return Quorum(verify_cosignatures(note, list(keys), now=now), minimum)


def witness_check(
    keys: Sequence[CosignerKey], minimum: int, *, slack: int = 300
) -> CheckpointCheck:
    """A remote verifier's checkpoint check: fail unless ``minimum`` of ``keys`` cosigned.

    Cosignatures timestamped more than ``slack`` seconds in the future do not count.
    """

    def check(_log: RemoteLog, note: str, report: RemoteReport) -> None:
        result = report.result
        result.checks["witnesses"] += 1
        found = quorum(note, keys, minimum, now=int(time.time()) + slack)
        if found.ok:
            report.lines.append(f"witnesses: {found.describe()}")
        else:
            result.fail("witnesses", None, f"the checkpoint is not witnessed: {found.describe()}")

    return check
