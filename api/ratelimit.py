"""Per-token rate limits (flask-limiter), answered with 429, ``Retry-After`` and a problem.

Only ``/v1`` is limited. Authenticated requests are counted per token, anonymous public
reads per client address. ``LEDGER_RATE_LIMIT`` sets the limits (``off`` disables them);
``LEDGER_RATE_LIMIT_STORAGE`` keeps the counters in memory (per process, the default) or
in Redis (shared by every API process); a storage failure never fails a request.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded

from .auth import principal
from .errors import problem_response
from .settings import Settings
from .streamslots import principal_key


def _key() -> str:
    return principal_key(principal().token_id, request.remote_addr)


def _exempt() -> bool:
    return not request.path.startswith("/v1/")


def _too_many(error: RateLimitExceeded) -> Response:
    retry = 1
    limit = getattr(error, "limit", None)
    if limit is not None:
        try:
            retry = max(1, math.ceil(limit.reset_at - time.time()))
        except Exception:  # the storage may be unreachable; 1 s is a safe answer
            retry = 1
    return problem_response(
        429,
        f"Too many requests for this token ({error.description}); retry in {retry} s.",
        slug="rate-limited",
        headers={"Retry-After": str(retry)},
    )


def init_rate_limits(app: Flask, settings: Settings) -> Limiter | None:
    """Install the limiter when ``settings.rate_limit`` is set; must follow authentication."""
    app.register_error_handler(RateLimitExceeded, _too_many)
    if not settings.rate_limit:
        return None
    return Limiter(
        key_func=_key,
        app=app,
        application_limits=[settings.rate_limit],
        application_limits_exempt_when=_exempt,
        storage_uri=settings.rate_limit_storage,
        strategy="sliding-window-counter",
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        key_prefix="claimledger",
    )
