"""The coalescing background call behind the append hooks."""

from __future__ import annotations

import threading
import time

from api.background import Coalesced
from tests.support.waiting import wait_until


class _Recorder:
    """An action that records when each run started."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.starts.append(time.monotonic())


def test_a_steady_stream_of_pokes_runs_the_action_at_most_once_per_gap() -> None:
    runs = _Recorder()
    call = Coalesced(runs, "test-coalesced", min_gap=0.05)
    began = last_poke = time.monotonic()
    while last_poke - began < 0.5:
        last_poke = time.monotonic()
        call.poke()
    wait_until(lambda: runs.starts and runs.starts[-1] >= last_poke, 5, "a run after the last poke")
    gaps = [b - a for a, b in zip(runs.starts, runs.starts[1:], strict=False)]
    assert len(runs.starts) <= 0.5 / 0.05 + 3
    assert min(gaps) >= 0.045


def test_the_last_poke_of_a_burst_is_always_served() -> None:
    runs = _Recorder()
    call = Coalesced(runs, "test-coalesced", min_gap=0.2)
    call.poke()
    wait_until(lambda: len(runs.starts) == 1, 5, "the first run")
    poked = time.monotonic()
    call.poke()  # inside the gap: served by the next run, not dropped
    wait_until(lambda: len(runs.starts) == 2, 5, "the run that serves the second poke")
    assert runs.starts[1] >= poked
