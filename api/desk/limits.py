"""The desk's page rate limit: per principal (a signed-in token, else the address).

``LEDGER_DESK_RATE_LIMIT`` (default ``10/second;300/minute``, ``off`` disables it) bounds
how many desk pages one principal may ask for, counted in the same storage as the API's
limits (``LEDGER_RATE_LIMIT_STORAGE``); a storage failure never fails a page. Past the
limit the desk answers 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from ..settings import Settings
from ..streamslots import principal_key

log = logging.getLogger("api.desk")
_EXTENSION = "claimledger.desk_limits"


@dataclass
class DeskLimits:
    """The parsed limits and the limiter counting against them."""

    items: list[RateLimitItem]
    limiter: SlidingWindowCounterRateLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> DeskLimits | None:
        """The desk's limits, or None when they are off."""
        if not settings.desk_rate_limit:
            return None
        storage: Storage
        try:
            found = storage_from_string(settings.rate_limit_storage)
            storage = found if isinstance(found, Storage) else MemoryStorage()
        except Exception as exc:  # an unusable storage: count in this process instead
            log.warning("desk rate limit: storage unavailable (%s); counting in memory", exc)
            storage = MemoryStorage()
        return cls(parse_many(settings.desk_rate_limit), SlidingWindowCounterRateLimiter(storage))

    def retry_after(self, key: str) -> int | None:
        """None when this request is allowed (and counted), else seconds to wait."""
        for item in self.items:
            try:
                if self.limiter.hit(item, "desk", key):
                    continue
                reset = self.limiter.get_window_stats(item, "desk", key).reset_time
            except Exception as exc:  # the storage failed: let the page through
                log.debug("desk rate limit not checked: %s", exc)
                return None
            return max(1, math.ceil(reset - time.time()))
        return None


def limits() -> DeskLimits | None:
    """This app's desk limits (built on first use)."""
    extensions = current_app.extensions
    if _EXTENSION not in extensions:
        from ..state import ledger_state

        extensions[_EXTENSION] = DeskLimits.from_settings(ledger_state().settings)
    found: DeskLimits | None = extensions[_EXTENSION]
    return found


def too_soon(token_id: str | None) -> int | None:
    """Seconds the current principal must wait before its next desk page, or None."""
    found = limits()
    if found is None:
        return None
    return found.retry_after(principal_key(token_id, request.remote_addr))
