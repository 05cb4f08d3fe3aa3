"""Ids: time-ordered UUIDs (version 7) for events, claims, tokens and requests."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

_entropy = threading.local()


def _random_bytes(count: int) -> bytes:
    """Bytes from os.urandom, fetched 4 KiB at a time (a syscall per id is costly)."""
    state: list[Any] | None = getattr(_entropy, "state", None)
    if state is None or state[1] + count > len(state[0]):
        state = _entropy.state = [os.urandom(4096), 0]
    start = state[1]
    state[1] = start + count
    block: bytes = state[0]
    return block[start : start + count]


def _forget_entropy() -> None:
    _entropy.state = None


os.register_at_fork(after_in_child=_forget_entropy)


def new_uuid() -> str:
    """A new time-ordered UUID (version 7, RFC 9562), sub-millisecond precise.

    Time order keeps inserts at the right edge of the id indexes, which makes appends
    cheaper than with random version 4 ids; the time it reveals is public anyway. The 12
    bits after the version hold the fraction of the millisecond (RFC 9562 section 6.2,
    method 3), so ids made one after another also sort in that order and an append's
    ids land on one index page; 62 random bits keep them unique.
    """
    now = time.time_ns()
    millis = now // 1_000_000
    head = (millis << 16) | 0x7000 | (((now - millis * 1_000_000) << 12) // 1_000_000)
    tail = (int.from_bytes(_random_bytes(8), "big") & _RANDOM_62) | _VARIANT
    h = (head.to_bytes(8, "big") + tail.to_bytes(8, "big")).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_VARIANT = 0b10 << 62
_RANDOM_62 = (1 << 62) - 1
