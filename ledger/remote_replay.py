"""``verify --all``: replay the whole log over HTTP, page by page, and resume later.

``verify_all`` fetches the latest checkpoint and checks its signature, then replays
every event up to its size through ``GET /v1/events`` (``ledger.replay``: payload
hashes, leaves, chain links, positions) and compares the tree root it built with the
signed root. The state file keeps the last checkpoint verified in full and the
replay's state at its size, so the next run proves the new checkpoint consistent with
the saved one and replays only the events added since. A run cut short by the network
(or Ctrl-C) saves how far it got, unverified against a signed root yet; the next run
goes on from there and checks the root at its end. The next pages are fetched while
the current one is checked.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import checkpoint as cp
from .durable import write_atomically
from .remote import (
    CheckpointCheck,
    RemoteError,
    RemoteLog,
    RemoteReport,
    _consistent_with_saved,
    follow_rotations,
    read_state,
)
from .replay import Replay, ReplayState
from .verifier import verify_checkpoint

#: events per page (the API's largest page)
PAGE = 1000
#: pages asked for ahead of the one being checked (the server answers them meanwhile)
AHEAD = 2


@dataclass(slots=True)
class SavedReplay:
    """The state file of ``verify --all``: the last note verified in full, and the replay."""

    note: str | None = None
    replay: ReplayState | None = None

    def to_text(self) -> str:
        """The file's JSON text."""
        replay = None if self.replay is None else self.replay.to_json()
        return json.dumps({"note": self.note, "replay": replay}, separators=(",", ":"))


def read_saved(path: Path) -> SavedReplay:
    """The saved state (empty if there is no file; a bare note from plain ``verify`` too)."""
    note = read_state(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SavedReplay()
    if not text.startswith("{"):
        return SavedReplay(note=note)
    raw = json.loads(text).get("replay")
    try:
        replay = None if raw is None else ReplayState.from_json(raw)
    except ValueError as exc:
        raise RemoteError(f"the state file {path} holds no usable replay: {exc}") from None
    return SavedReplay(note=note, replay=replay)


def write_saved(path: Path, saved: SavedReplay) -> None:
    """Write the state file atomically and durably (a power loss keeps it)."""
    write_atomically(path, saved.to_text().encode("utf-8"), prefix=".verify-state-")


def replay_pages(
    log: RemoteLog,
    replay: Replay,
    size: int,
    *,
    page: int = PAGE,
    progress: Callable[[int], Any] | None = None,
) -> str | None:
    """Feed ``replay`` the events up to position ``size``; why it stopped short, or None.

    A failed check is left in ``replay.failure``; the answer says when the feed ended
    before ``size`` (a log that lost events after signing for them).
    """
    if page < 1:
        raise ValueError("a page holds at least one event")
    with ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix="verify-fetch") as pool:
        pending: deque[tuple[int, Future[list[Any]]]] = deque()  # (end, page up to end)
        asked = replay.size
        try:
            while True:
                while len(pending) < AHEAD and asked < size:  # keep the server's workers busy
                    limit = min(page, size - asked)
                    pending.append((asked + limit, pool.submit(log.events, asked, limit)))
                    asked += limit
                if not pending:
                    return None
                end, future = pending.popleft()
                items = future.result()
                if not items:
                    return (
                        f"the feed ends at position {replay.size} but a checkpoint was signed"
                        f" for {size} events"
                    )
                before = replay.size
                if replay.feed(items[: size - before]) is not None:
                    return None
                if progress is not None:
                    progress(replay.size - before)
                if replay.size < end:  # a shorter page than asked: go on from where it ended
                    for _, later in pending:
                        later.cancel()
                    pending.clear()
                    asked = replay.size
        finally:
            for _, later in pending:
                later.cancel()


def verify_all(
    log: RemoteLog,
    verifier_key: str,
    *,
    state: Path | None = None,
    page: int = PAGE,
    progress: Callable[[int], Any] | None = None,
    start: Callable[[int], Any] | None = None,
    checkpoint_checks: Sequence[CheckpointCheck] = (),
) -> RemoteReport:
    """Replay the log at ``log`` up to its latest signed checkpoint and check its root.

    ``start`` is told how many events will be replayed (for a progress bar), ``progress``
    how many each page held. The state is saved when everything passed, and also when
    the network (or Ctrl-C) cut the replay short.
    """
    cp.parse_verifier_key(verifier_key)
    report = RemoteReport()
    result = report.result
    note = log.checkpoint()
    verifier_key = follow_rotations(log, verifier_key, note, report)
    if not report.result.ok or not report.merge(verify_checkpoint(note, verifier_key)).ok:
        return report
    signed = cp.parse_checkpoint_body(cp.open_note(note, verifier_key))
    report.signed_sizes.add(signed.size)
    report.lines.append(f"checkpoint: size {signed.size}, signature verified")
    for check in checkpoint_checks:
        check(log, note, report)
    saved = read_saved(state) if state is not None else SavedReplay()
    if saved.note is not None:
        _consistent_with_saved(log, report, saved.note, note, verifier_key)
    resumed = saved.replay
    if resumed is not None and resumed.size > signed.size:
        result.fail("consistency", None, f"the saved replay covers {resumed.size} events but"
                    f" the log now signs for only {signed.size}")
        resumed = None
    if not result.ok:
        return report
    replay = Replay(resumed)
    if resumed is not None and resumed.size:
        report.lines.append(f"replay: going on from position {resumed.size} (saved state)")
    if start is not None:
        start(signed.size - replay.size)
    try:
        short = replay_pages(log, replay, signed.size, page=page, progress=progress)
    except (RemoteError, KeyboardInterrupt):
        if state is not None and replay.failure is None and replay.size > 0:
            write_saved(state, SavedReplay(saved.note, replay.state()))
        raise
    report.events += replay.events
    result.checks["format"] += replay.events
    result.checks["payload"] += replay.payloads
    result.checks["leaf"] += replay.events
    result.checks["chain"] += replay.events
    if replay.failure is not None:
        failure = replay.failure
        result.fail(failure.check, failure.position, failure.message)
        return report
    if short is not None:
        result.fail("root", None, short)
        return report
    result.checks["root"] += 1
    if replay.root() != signed.root:
        result.fail("root", None, f"the tree of the {signed.size} events served is not the"
                    " signed tree: the log was rewritten or an event was left out")
        return report
    report.lines.append(
        f"replay: {replay.events} events (payloads, leaves, chain links) and the root at"
        f" size {signed.size} verified" + (f"; {replay.redacted} redacted payloads in all"
                                           if replay.redacted else "")
    )
    report.note = note
    report.checkpoint = signed
    if state is not None:
        write_saved(state, SavedReplay(note, replay.state()))
        report.lines.append(f"state saved to {state}")
    return report
