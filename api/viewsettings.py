"""The projection settings of a deployment, for the API and the CLI alike (no click here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from workers.config import ViewConfig

from .settings import ConfigError, Settings

#: optional tuning knobs (seconds or events), mostly for tests and benchmarks
TUNING = {
    "LEDGER_VIEWS_TICK_SECONDS": ("tick_interval", float),
    "LEDGER_VIEWS_LOCK_TTL": ("lock_ttl", float),
    "LEDGER_VIEWS_DROP_DELAY": ("drop_delay", float),
    "LEDGER_VIEWS_BATCH": ("batch_size", int),
    "LEDGER_VIEWS_LINGER": ("linger", float),
}


def view_config(settings: Settings, env: Mapping[str, str] | None = None) -> ViewConfig:
    """The projection settings of this deployment (LEDGER_PARTITIONS and tuning knobs)."""
    env = os.environ if env is None else env
    tuning: dict[str, Any] = {}
    for variable, (name, kind) in TUNING.items():
        raw = env.get(variable)
        if raw:
            try:
                tuning[name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{variable} must be a number, not {raw!r}") from None
    return ViewConfig(
        database_url=settings.database_url,
        partitions=settings.partitions,
        scales_file=settings.scales_file,
        **tuning,
    )
