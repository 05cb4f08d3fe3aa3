"""A coalescing background call: append hooks that must never slow an append down."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: seconds a background thread waits for more work before it exits
IDLE_SECONDS = 30.0
#: least seconds between two runs: under steady appends the action runs at most this
#: often instead of once per append, so it never competes with requests for the GIL
MIN_GAP_SECONDS = 0.05

#: this process's id, kept current across fork (``os.getpid`` is a system call per poke)
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class Coalesced:
    """Runs ``action`` on a background thread after ``poke()``; a burst of pokes runs it once.

    ``poke`` returns at once and never raises. Runs are at least ``min_gap`` seconds
    apart; pokes in between are served by the next run. The thread exits after
    ``IDLE_SECONDS`` without work and is started again on demand (also in a forked
    child). ``action`` must not raise; if it does, the error is logged and the thread
    carries on.
    """

    def __init__(
        self, action: Callable[[], None], name: str, min_gap: float = MIN_GAP_SECONDS
    ) -> None:
        self.action = action
        self.name = name
        self.min_gap = min_gap
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def poke(self) -> None:
        """Ask for one more run of ``action`` (soon, not now)."""
        thread = self._thread
        # a run is asked for and not begun: the thread clears the wish before it runs, so
        # that run starts after this poke; and the thread only leaves (under the lock)
        # while no run is wanted. Under steady appends, the usual case.
        if self._wanted.is_set() and thread is not None and self._pid == _pid and thread.is_alive():
            return
        with self._lock:
            self._wanted.set()
            thread = self._thread
            if thread is None or not thread.is_alive() or self._pid != _pid:
                self._pid = _pid
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._wanted.wait(IDLE_SECONDS):
                with self._lock:
                    if not self._wanted.is_set():
                        self._thread = None
                        return
            self._wanted.clear()
            started = time.monotonic()
            try:
                self.action()
            except Exception:  # this thread must not die
                log.exception("%s failed", self.name)
            rest = self.min_gap - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)  # pacing, not synchronisation: pokes meanwhile are kept
