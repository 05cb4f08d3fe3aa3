"""A coalescing background call: append hooks that must never slow an append down."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: seconds a background thread waits for more work before it exits
IDLE_SECONDS = 30.0


class Coalesced:
    """Runs ``action`` on a background thread after ``poke()``; a burst of pokes runs it once.

    ``poke`` returns at once and never raises. The thread exits after ``IDLE_SECONDS``
    without work and is started again on demand (also in a forked child). ``action``
    must not raise; if it does, the error is logged and the thread carries on.
    """

    def __init__(self, action: Callable[[], None], name: str) -> None:
        self.action = action
        self.name = name
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
            try:
                self.action()
            except Exception:  # this thread must not die
                log.exception("%s failed", self.name)
