"""The soak's end checks: the views caught up and equal to a from-scratch fold, every
claim served from the views equal to its replay from the log, the log holding exactly the
acknowledged events, and a clean ``claimledger audit``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx

from ledger.store import open_store
from workers.digest import log_snapshot, views_snapshot

from .load import Model
from .system import System


def views_caught_up(system: System, timeout: float = 120) -> dict[str, Any]:
    """Wait until ``/v1/projections`` shows no lag; returns its last answer."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=system.url, timeout=10,
                      headers={"Authorization": f"Bearer {system.tokens['reader']}"}) as http:
        while True:
            summary: dict[str, Any] = http.get("/v1/projections").json()
            if summary.get("lag") == 0 and not summary.get("rebuilding"):
                return summary
            if time.monotonic() > deadline:
                return summary
            time.sleep(0.2)


def views_equal_fold(system: System) -> tuple[bool, str]:
    """Whether the live views hold exactly what folding the whole log gives."""
    assert system.redis is not None
    redis = system.redis.client()
    store = open_store(system.database_url)
    try:
        views, fold = views_snapshot(redis), log_snapshot(store)
    finally:
        store.close()
        redis.close()
    if views.digest() == fold.digest():
        return True, f"{len(fold.claims)} claims, digest {fold.digest()[:16]}"
    return False, "; ".join(views.differences(fold))


def served_equal_replay(system: System, claims: list[str]) -> list[str]:
    """Claims whose state from the views differs from their replay of the log ``as_of`` now."""
    now = datetime.now(UTC).isoformat()
    different = []
    with httpx.Client(base_url=system.url, timeout=30,
                      headers={"Authorization": f"Bearer {system.tokens['reader']}"}) as http:
        for claim_id in claims:
            served = http.get(f"/v1/claims/{claim_id}")
            replayed = http.get(f"/v1/claims/{claim_id}", params={"as_of": now})
            if served.headers.get("X-Ledger-Source") != "views":
                different.append(f"{claim_id}: served from {served.headers.get('X-Ledger-Source')}")
            elif served.status_code != 200 or served.json() != replayed.json():
                different.append(f"{claim_id}: {served.text[:200]} != {replayed.text[:200]}")
    return different


def log_equals_acknowledged(system: System, model: Model) -> list[str]:
    """Differences between the log and the events the clients were acknowledged."""
    store = open_store(system.database_url)
    try:
        positions, ids = [], set()
        for event in store.iter_all(batch=5000):
            positions.append(event.position)
            ids.add(event.id)
            acked = model.acked.get(event.id)
            if acked is not None and (acked["position"], acked["leaf_hash"]) != (
                    event.position, event.leaf_hash):
                return [f"event {event.id} is not where its 201 said"]
    finally:
        store.close()
    problems = []
    if positions != list(range(1, len(positions) + 1)):
        problems.append("positions have a gap")
    if lost := set(model.acked) - ids:
        problems.append(f"{len(lost)} acknowledged events missing, e.g. {sorted(lost)[:3]}")
    if unknown := ids - set(model.acked):
        problems.append(f"{len(unknown)} events never acknowledged, e.g. {sorted(unknown)[:3]}")
    return problems


def audit(system: System) -> tuple[bool, str]:
    """``claimledger audit``: passed or not, and its summary line."""
    result = system.cli("audit", "--quiet", check=False)
    return result.returncode == 0, (result.stdout + result.stderr).strip()
