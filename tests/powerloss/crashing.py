"""Crash the SQLite ledger at every sync point of an operation and check what survived.

A scenario prepares a ledger on the power-loss file system and saves that disk as an
image. A dry run of the operation counts its sync points (N); then, for each n in
1..N, the image is booted, the nth sync point loses the power, the ledger is rebooted
on what survived and checked; the dry run itself is crashed right after the operation
returned. The checks: every acknowledged event is there unchanged, the log holds one
of the heads the operation's transactions allow (nothing in part), positions run
1..head, ``audit`` is clean, the signing key is the one that signed, and no signed
checkpoint (handed out, stored or served after the reboot) is larger than the log or
has another root.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sqlite3
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ledger import checkpoint as cp
from ledger.audit import audit
from ledger.envelope import RecordedEvent
from ledger.log import LogService
from ledger.store.sqlite import SQLiteEventStore
from tests.powerloss.mount import PowerLossMount

ORIGIN = "powerloss.example.org/log"
ACTOR = "powerloss@example.org"


@dataclass
class Ledger:
    """The ledger's files on the mount, opened afresh after each boot."""

    directory: Path

    @property
    def db(self) -> Path:
        """The SQLite file."""
        return self.directory / "ledger.db"

    @property
    def key(self) -> Path:
        """The checkpoint signing key."""
        return self.directory / "signing.key"

    def store(self) -> SQLiteEventStore:
        """A new store object on the file (no caches from before a crash)."""
        return SQLiteEventStore(self.db)

    def log(self, store: SQLiteEventStore) -> LogService:
        """The log service signing with the key on the mount."""
        return LogService.open(store, self.key, ORIGIN, interval=0)


@dataclass
class Run:
    """What one run of an operation handed out before the power went."""

    acknowledged: list[RecordedEvent] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    key: str | None = None  # the verifier key of a signing key the operation created
    error: str | None = None  # what the operation raised, traceback and all, as text


#: an operation: the ledger, its open store, and the run to record acknowledgements in
Operation = Callable[[Ledger, SQLiteEventStore, Run], None]


@dataclass
class Figures:
    """One operation's crash campaign."""

    operation: str
    sync_points: int = 0
    crashes: int = 0
    acknowledged: int = 0
    checkpoints: int = 0
    lost: int = 0
    forked: int = 0
    kinds: set[str] = field(default_factory=set)


@dataclass
class Scenario:
    """An operation over a prepared ledger, and the heads a crash may leave it at."""

    name: str
    prepare: Callable[[Ledger, SQLiteEventStore], None]
    operation: Operation
    heads: Callable[[int], set[int]]  # base head -> every head allowed after a crash


def prepare_image(mount: PowerLossMount, scenario: Scenario, image: Path) -> Ledger:
    """Build the scenario's starting ledger on the mount and save the disk as ``image``."""
    ledger = Ledger(mount.mountpoint / "ledger")
    ledger.directory.mkdir(exist_ok=True)
    store = ledger.store()
    try:
        scenario.prepare(ledger, store)
    finally:
        store.close()
    mount.reboot()  # a clean unmount: everything written reaches the disk
    shutil.copytree(mount.backing, image)
    return ledger


def _attempt(mount: PowerLossMount, ledger: Ledger, operation: Operation) -> Run:
    run = Run()
    store = ledger.store()
    try:
        operation(ledger, store, run)
    except Exception:  # the power went: whatever it raised, nothing more is handed out
        # as text: a kept exception would keep its frames' cursors, and an unfinished
        # statement keeps its SQLite connection (and files on the disk) open past the close
        run.error = traceback.format_exc()
    finally:
        with contextlib.suppress(Exception):
            store.close()
    # a file still open here (a connection whose close SQLite deferred while a statement
    # lived on, in a reference cycle) would meet the next boot's files under the same
    # device and inode numbers inside SQLite: collect the cycles now, then fail plainly
    gc.collect()
    left = _open_files(mount.mountpoint)
    assert not left, f"the operation left files open on the disk after its store closed: {left}"
    return run


def _open_files(mountpoint: Path) -> list[str]:
    """This process's open files under ``mountpoint``."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(f"{mountpoint}/"):
                names.append(target)
    return sorted(names)


class Beside:
    """What lives beside the ledger's disk (workers, Redis); by default nothing."""

    def booted(self) -> None:
        """The image is up, the operation comes next."""

    def halt(self) -> None:
        """The power went: stop every process that has a file open on the mount."""

    def recovered(self) -> None:
        """The ledger rebooted and passed its checks: check what lives beside it."""


def crash_everywhere(
    mount: PowerLossMount, scenario: Scenario, image: Path, *,
    modes: tuple[str, ...] = ("drop",), beside: Beside | None = None,
) -> Figures:
    """Crash ``scenario`` at each of its sync points in each mode; check after each.

    A mode is ``drop``, ``torn`` or ``random:SEED``.
    """
    beside = beside or Beside()
    figures = Figures(scenario.name)
    ledger = Ledger(mount.mountpoint / "ledger")
    mount.reboot(image)
    base_head, key = _base(ledger)
    beside.booted()
    mount.reset()
    run = _attempt(mount, ledger, scenario.operation)
    if run.error is not None:
        raise AssertionError(f"{scenario.name}: the dry run failed:\n{run.error}")
    syncs = mount.syncs()
    figures.sync_points = len(syncs)
    figures.kinds = {f"{path} {kind}" for path, kind in syncs}
    allowed = scenario.heads(base_head)
    where = f"after all {len(syncs)}"
    _crash_and_check(mount, ledger, run, allowed, key, figures, "drop", where, beside)
    for mode in modes:
        for n in range(1, len(syncs) + 1):
            mount.reboot(image)
            beside.booted()
            mount.reset()
            mount.arm(n, mode)
            run = _attempt(mount, ledger, scenario.operation)
            where = f"at sync {n} ({syncs[n - 1]})"
            _crash_and_check(mount, ledger, run, allowed, key, figures, mode, where, beside)
    return figures


def _base(ledger: Ledger) -> tuple[int, str | None]:
    store = ledger.store()
    try:
        if not ledger.key.exists():
            return 0, None
        key = cp.verifier_key(ORIGIN, cp.load_signing_key(ledger.key).public_key())
        return (store.head() if ledger.db.exists() else 0), key
    finally:
        store.close()


def _crash_and_check(
    mount: PowerLossMount, ledger: Ledger, run: Run, allowed: set[int], key: str | None,
    figures: Figures, mode: str, where: str, beside: Beside,
) -> None:
    synced = mount.syncs()  # this run's sync points, for the message if a check fails
    if mount.powered:
        name, _, seed = mode.partition(":")
        mount.crash(name, int(seed or 0))
    beside.halt()
    mount.reboot()
    figures.crashes += 1
    figures.acknowledged += len(run.acknowledged)
    figures.checkpoints += len(run.checkpoints)
    problems = check_survivors(ledger, run, allowed, run.key or key)
    figures.lost += sum(1 for p in problems if p.startswith("lost"))
    figures.forked += sum(1 for p in problems if p.startswith("forked"))
    assert not problems, (
        f"{figures.operation}, power lost {where} ({mode}): {problems};"
        f" this run synced {synced}, then the power went"
    )
    beside.recovered()


def check_survivors(ledger: Ledger, run: Run, allowed: set[int], key: str | None) -> list[str]:
    """Everything wrong with the rebooted ledger, as sentences (lost…, forked…, other)."""
    problems: list[str] = []
    store = ledger.store()
    try:
        store.init()  # what an operator's next command does; a no-op on an initialised store
        head = store.head()
        count, low = _positions(ledger.db)
        if count != head or (head and low != 1):
            problems.append(f"positions not 1..{head}: {count} events from {low}")
        if head not in allowed:
            problems.append(f"a transaction survived in part: head {head}, allowed {allowed}")
        for event in run.acknowledged:
            stored = store.get_event(event.id)
            if stored is None or stored.to_json() != event.to_json():
                problems.append(f"lost: acknowledged event {event.position} ({event.id})")
        notes = [*run.checkpoints, *_stored_notes(ledger.db)]
        found = (cp.verifier_key(ORIGIN, cp.load_signing_key(ledger.key).public_key())
                 if ledger.key.exists() else None)
        if key is not None and found != key and notes:
            problems.append(f"lost: the signing key ({'replaced' if found else 'gone'})")
        if found is None:  # nothing signed yet: the operator's `claimledger init` makes one
            cp.load_or_create_signing_key(ledger.key)
            found = cp.verifier_key(ORIGIN, cp.load_signing_key(ledger.key).public_key())
        report = audit(store, key or found, origin=ORIGIN)
        if report.failure is not None:
            problems.append(f"audit: {report.failure}")
        if not problems:
            notes.append(ledger.log(store).current().note)  # served after the reboot
        for note in notes:
            problems += _check_note(store, note, key or found, head)
    finally:
        store.close()
    return problems


def _check_note(store: SQLiteEventStore, note: str, key: str, head: int) -> list[str]:
    try:
        signed = cp.open_checkpoint(note, key, origin=ORIGIN)
    except cp.CheckpointError as exc:
        return [f"a checkpoint that does not verify: {exc}"]
    if signed.size > head:
        return [f"forked: a checkpoint signed for {signed.size} events, the log has {head}"]
    if store.root(signed.size) != signed.root:
        return [f"forked: the checkpoint of size {signed.size} has another root than the log"]
    return []


def _positions(db: Path) -> tuple[int, int]:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT count(*), coalesce(min(position), 0) FROM events").fetchone()
        return int(row[0]), int(row[1])
    finally:
        conn.close()


def _stored_notes(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [row[0] for row in conn.execute("SELECT note FROM checkpoints ORDER BY size")]
    finally:
        conn.close()
