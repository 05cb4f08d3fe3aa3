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
        with self._lock:
            self._wanted.set()
            thread = self._thread
            if thread is None or not thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
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
