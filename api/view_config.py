"""The projection settings of a deployment, for the API and the CLI alike (no click here)."""

from __future__ import annotations

from redis import Redis

from workers.config import ViewConfig, connect, connect_views

from .settings import Settings


def view_config(settings: Settings) -> ViewConfig:
    """The projection settings of this deployment (LEDGER_PARTITIONS, LEDGER_VIEWS_*)."""
    return ViewConfig(
        database_url=settings.database_url,
        partitions=settings.partitions,
        scales_file=settings.scales_file,
        tick_interval=settings.views_tick_seconds,
        batch_size=settings.views_batch,
        lock_ttl=settings.views_lock_ttl,
        linger=settings.views_linger,
        drop_delay=settings.views_drop_delay,
        backoff_max=settings.views_backoff_max,
        search=settings.search,
    )


def views_redis(settings: Settings, *, timeout: float = 5.0) -> Redis:
    """The views' client (a cluster client for ``redis+cluster://``) with the queues' attached."""
    queue = None
    if settings.queues_url != settings.redis_url:
        queue = connect(settings.queues_url, timeout=timeout)
    return connect_views(settings.redis_url, queue=queue, timeout=timeout)
