"""Ids: time-ordered UUIDs (version 7) for events, claims, tokens and requests."""

from __future__ import annotations

import os
import struct
import threading
import time

_entropy = threading.local()


def _random_62() -> int:
    """62 random bits from os.urandom, drawn 4 KiB at a time (a syscall per id is costly)."""
    numbers: list[int] | None = getattr(_entropy, "numbers", None)
    if not numbers:
        numbers = _entropy.numbers = list(_WORDS.unpack(os.urandom(_WORDS.size)))
    return numbers.pop() & _RANDOM_62


def _forget_entropy() -> None:
    _entropy.numbers = None


os.register_at_fork(after_in_child=_forget_entropy)


def new_uuid() -> str:
    """A new time-ordered UUID (version 7, RFC 9562), sub-millisecond precise.

    Time order keeps inserts at the right edge of the id indexes, which makes appends
    cheaper than with random version 4 ids; the time it reveals is public anyway. The 12
    bits after the version hold the fraction of the millisecond (RFC 9562 section 6.2,
    method 3), so ids made one after another also sort in that order and an append's
    ids land on one index page; 62 random bits keep them unique.
    """
    millis, fraction = divmod(time.time_ns(), 1_000_000)
    head = millis << 16 | 0x7000 | (fraction << 12) // 1_000_000
    h = (head.to_bytes(8, "big") + (_random_62() | _VARIANT).to_bytes(8, "big")).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_VARIANT = 0b10 << 62
_RANDOM_62 = (1 << 62) - 1
#: 512 unsigned 64-bit words, the random draws kept per thread
_WORDS = struct.Struct("=512Q")
