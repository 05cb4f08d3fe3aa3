"""Commands over the views: ``worker``, ``rebuild`` and ``status``."""

from __future__ import annotations

import json
import time

import click
from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from workers.config import ViewConfig, connect, is_cluster, queue_of
from workers.coordination import job_info, read_pointer, rebuild_successor, start_rebuild
from workers.rebuild import open_configured_store, rebuild
from workers.runner import run_worker, status_summary

from ..settings import Settings
from ..view_config import view_config, views_redis


@click.command()
@click.option("--burst", is_flag=True, help="exit once the queues are empty")
@click.option("--name", help="worker name (default: host and pid)")
@click.pass_obj
def worker(settings: Settings, burst: bool, name: str | None) -> None:
    """Run an RQ worker for the projection queues, with the scheduler and the tick."""
    from ..request_log import configure

    configure(settings.log_level)  # JSON lines on stderr, as the API writes them
    config = view_config(settings)
    names = {settings.queues_url: "LEDGER_QUEUE_REDIS_URL", settings.redis_url: "LEDGER_REDIS_URL"}
    for url, variable in names.items():
        try:
            views = views_redis(settings) if url == settings.redis_url else connect(url)
            views.ping()
            node = not is_cluster(views) and views.info("cluster").get("cluster_enabled") == 1
        except RedisError as exc:  # once running, the worker rides out Redis outages
            raise click.ClickException(
                f"cannot reach Redis at {_safe(url)} ({variable}): {exc}"
            ) from exc
        if node:  # a plain client on a cluster node would meet MOVED on most keys
            raise click.ClickException(
                f"{variable} ({_safe(url)}) points at a Redis Cluster node: give the views"
                " as redis+cluster://host:port,… and the queues a standalone Redis in"
                " LEDGER_QUEUE_REDIS_URL"
            )
    where = _safe(settings.redis_url) + (
        f" (queues on {_safe(settings.queues_url)})"
        if settings.queues_url != settings.redis_url else "")
    click.echo(
        f"worker on {where}, {config.partitions} partition(s),"
        f" tick every {config.tick_interval:g}s",
        err=True,
    )
    run_worker(settings.queues_url, config, burst=burst, name=name,
               views_url=settings.redis_url)


@click.command("rebuild")
@click.option("--inline", is_flag=True, help="build in this process instead of on a worker")
@click.option("--no-wait", is_flag=True, help="print the job id and return")
@click.pass_obj
def rebuild_command(settings: Settings, inline: bool, no_wait: bool) -> None:
    """Rebuild the views beside the live ones, then switch (zero downtime)."""
    config = view_config(settings)
    redis = views_redis(settings)
    if inline:
        _rebuild_inline(settings, config)
        return
    live = read_pointer(redis, config.keys)
    job_id = start_rebuild(redis, config, reason="operator")
    click.echo(f"rebuild job {job_id}", err=True)
    if no_wait:
        click.echo(job_id)
        return
    _follow(redis, config, job_id, live.generation if live else None)


def _rebuild_inline(settings: Settings, config: ViewConfig) -> None:
    redis = views_redis(settings)
    store = open_configured_store(config)
    head = store.head()
    with click.progressbar(length=max(head, 1), label="rebuilding views") as bar:
        shown = 0

        def progress(processed: int, new_head: int) -> None:
            nonlocal shown
            bar.length = max(new_head, 1)
            bar.update(processed - shown)
            shown = processed

        result = rebuild(redis, store, config, f"inline-{time.time_ns()}", on_progress=progress)
    if result is None:
        raise click.ClickException("another rebuild is running; see `claimledger status`")
    click.echo(
        f"generation {result.generation} is live: {result.head} events in {result.seconds:.1f}s"
    )


def _follow(redis: Redis, config: ViewConfig, job_id: str, generation: int | None) -> None:
    with click.progressbar(length=100, label="rebuilding views") as bar:
        shown = 0
        waited = 0.0
        while True:
            info = job_info(redis, job_id)
            if info is None:
                raise click.ClickException(f"job {job_id} vanished (Redis flushed?)")
            if info["status"] == "started":
                successor, done = rebuild_successor(redis, config.keys, job_id, generation)
                if successor is not None:
                    click.echo(f"\nrebuild job {job_id} died with its worker;"
                               f" job {successor} resumes it", err=True)
                    job_id = successor
                    continue
                if done:
                    live = read_pointer(redis, config.keys)
                    info["meta"]["generation"] = live.generation if live else None
                    break
            percent = int(info["progress"].get("percent") or 0)
            bar.update(percent - shown)
            shown = percent
            if info["status"] == "finished":
                break
            if info["status"] in ("failed", "stopped", "canceled"):
                raise click.ClickException(f"rebuild {info['status']}: {info.get('error')}")
            if info["status"] == "queued" and waited > 5 and Worker.count(
                    connection=queue_of(redis)) == 0:
                raise click.ClickException(
                    "no worker is running: start `claimledger worker` (the job stays"
                    " queued) or use `claimledger rebuild --inline`"
                )
            time.sleep(0.2)
            waited += 0.2
    click.echo(f"rebuild finished: generation {info['meta'].get('generation')} is live")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.pass_obj
def status(settings: Settings, as_json: bool) -> None:
    """Show the log head, the views' checkpoint and lag, generation and queue depth."""
    config = view_config(settings)
    store = open_configured_store(config)
    head = store.head()
    try:
        summary = status_summary(views_redis(settings), config, head)
    except RedisError as exc:
        raise click.ClickException(
            f"Redis unavailable at {_safe(settings.redis_url)}: {exc}"
        ) from None
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    queues = summary["queues"]
    click.echo(f"head          {head}")
    if summary["generation"] is None:
        click.echo("checkpoint    no views yet (a worker builds them on its next tick)")
    else:
        click.echo(f"checkpoint    {summary['checkpoint']}  (lag {summary['lag']})")
        click.echo(
            f"generation    {summary['generation']}  ({summary['partitions']} partition(s),"
            f" configured {config.partitions}; live since {summary['switched_at']})"
        )
    rebuild_job = summary["rebuild_job_id"]
    if rebuild_job:
        info = job_info(views_redis(settings), rebuild_job) or {}
        percent = (info.get("progress") or {}).get("percent")
        click.echo(f"rebuilding    job {rebuild_job}: {info.get('status', 'unknown')}"
                   + (f", {percent}%" if percent is not None else ""))
    else:
        click.echo("rebuilding    no")
    for name, label in (("claimledger", "catch-up"), ("claimledger-rebuild", "rebuild")):
        click.echo(
            f"queue         {label}: {queues[name + ':queued']} queued,"
            f" {queues[name + ':scheduled']} scheduled, {queues[name + ':started']} running"
        )
    click.echo(f"workers       {summary['workers']}")
    refused = summary.get("redis_refusal")
    if refused:
        click.echo(f"redis         REFUSES the views' writes: {refused['reason']}"
                   f" ({refused['detail']}); the workers back off until it accepts them")


def _safe(url: str) -> str:
    """A Redis URL with any password masked."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def register(group: click.Group) -> None:
    """Add these commands to the CLI group."""
    for command in (worker, rebuild_command, status):
        group.add_command(command)
