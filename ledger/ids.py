"""Ids: time-ordered UUIDs (version 7) for events, claims, tokens and requests."""

from __future__ import annotations

import os
import threading
import time

_entropy = threading.local()


def _tails() -> list[str]:
    """Random second halves of UUIDs as text (``vxxx-xxxxxxxxxxxx``: the variant's two bits,
    then 62 random ones), 512 of them from one 4 KiB draw of os.urandom (a syscall per id
    is costly, and making them all at once costs less than one at a time)."""
    hexes = os.urandom(4096).hex()
    return [
        f"{_VARIANT_DIGIT[hexes[i]]}{hexes[i + 1 : i + 4]}-{hexes[i + 4 : i + 16]}"
        for i in range(0, len(hexes), 16)
    ]


#: a hex digit's two low bits under the variant's two (``10``): 8, 9, a or b
_VARIANT_DIGIT = {f"{d:x}": f"{0b1000 | d & 0b11:x}" for d in range(16)}


def _forget_entropy() -> None:
    _entropy.tails = None


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
    h = (millis << 16 | 0x7000 | (fraction << 12) // 1_000_000).to_bytes(8, "big").hex()
    tails: list[str] | None = getattr(_entropy, "tails", None)
    if not tails:
        tails = _entropy.tails = _tails()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{tails.pop()}"
