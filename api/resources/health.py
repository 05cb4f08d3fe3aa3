"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response
from flask.views import MethodView

from workers.refusals import Refused

from ..errors import RETRY_AFTER_SECONDS, problem_response
from ..parsing import Blueprint
from ..responses import json_response
from ..schemas import HealthSchema, ReadySchema
from ..state import ledger_state

blp = Blueprint("health", __name__, description="Liveness and readiness")
log = logging.getLogger("api.health")


@blp.route("/healthz")
class Health(MethodView):
    """``/healthz``."""

    @blp.response(200, HealthSchema)
    def get(self) -> Response:
        """Liveness: the process answers (no dependency is checked)."""
        return json_response({"status": "ok"})


@blp.route("/readyz")
class Ready(MethodView):
    """``/readyz``."""

    @blp.response(200, ReadySchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self) -> Response:
        """Readiness: the event store answers; Redis is checked and reported too.

        A failed optional check (Redis: writes and single reads never depend on it)
        answers 200 with ``"status": "degraded"``; any other failed check answers 503.
        A dependency that answers but refuses (Redis out of memory, read-only, a cluster
        node behind a plain URL, …) is ``"refused"``, and ``reasons`` says why.
        """
        state = ledger_state()
        checks: dict[str, str] = {}
        reasons: dict[str, str] = {}
        for name, check in state.ready_checks.items():
            try:
                check()
                checks[name] = "ok"
            except Refused as exc:
                log.warning("readiness check %s: refused: %s (%s)", name, exc, exc.detail)
                checks[name] = "refused"
                reasons[name] = str(exc)
            except Exception as exc:
                log.warning("readiness check %s failed: %s", name, exc)
                checks[name] = "unavailable"
        extra: dict[str, Any] = {"reasons": reasons} if reasons else {}
        failed = ", ".join(
            name for name, result in checks.items()
            if result != "ok" and name not in state.optional_checks
        )
        if not failed:
            degraded = any(result != "ok" for result in checks.values())
            return json_response({"status": "degraded" if degraded else "ready", "checks": checks,
                                  **extra})
        return problem_response(
            503,
            f"Not ready: {failed} unavailable.",
            slug="not-ready",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            checks=checks,
            **extra,
        )
