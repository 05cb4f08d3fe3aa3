"""``claimledger redact``: remove a payload from the store, then from everything derived.

A redaction is a legal takedown, so the command reports success only once the views in
Redis have forgotten the text too: it prints a ``store:`` line, then ``purged:`` lines
(never the text itself, nor index names that may hold it), and exits non-zero, saying
what is left, when Redis cannot be reached. ``--purge-only`` retries the purge.
"""

from __future__ import annotations

import click
from redis.exceptions import RedisError

from ledger.errors import EventNotFound, StoreUnavailable
from ledger.scales import load_scales
from ledger.search import open_search_index
from ledger.store import EventStore
from workers.purge import Purged, purge_claim
from workers.search import purge_search

from ..settings import Settings
from ..view_config import view_config, views_redis
from .ids import resolve
from .store import store_from
from .workers import _safe


@click.command()
@click.argument("event_id")
@click.option("--reason", help="why the payload must go (recorded for good); required"
              " unless --purge-only")
@click.option("--purge-only", is_flag=True,
              help="only purge an already redacted payload from the views (a retry)")
@click.pass_obj
def redact(settings: Settings, event_id: str, reason: str | None, purge_only: bool) -> None:
    """Remove an event's payload (legal takedown) from the store and the views.

    The leaf keeps the payload's hash, so every proof still holds.
    """
    store = store_from(settings)
    event_id = resolve(store, event_id, events=True)
    if purge_only:
        event = store.get_event(event_id)
        if event is None:
            raise EventNotFound(event_id)
        if event.redaction is None:
            raise click.ClickException(
                f"event {event_id} is not redacted; run without --purge-only to redact it"
            )
        click.echo(f"store: the payload of event {event.id} was already redacted"
                   f" (claim {event.claim_id})")
    else:
        if reason is None:
            raise click.UsageError("Missing option '--reason'.")
        event = store.redact(event_id, actor=settings.actor, reason=reason)
        click.echo(
            f"store: deleted the payload of event {event.id} (position {event.position},"
            f" claim {event.claim_id}); payload_sha256 {event.payload_sha256} stays committed"
        )
    for correction in store.claim_corrections(event.claim_id):
        data = correction.data or {}
        if data.get("target_event_id") == event.id and data.get("changes"):
            click.echo(f"note: correction {correction.id} (v{correction.version}) changed this"
                       " entry; its changes are a payload of their own: redact it too if they"
                       " repeat the text")
    failed = _forget(store)
    _purge_search(settings, store, event.id, event.claim_id)
    _purge(settings, store, event.id, event.claim_id)
    if failed is not None:
        raise click.ClickException(
            f"store: {failed}. Run `claimledger redact {event.id} --purge-only` to retry."
        )


def _forget(store: EventStore) -> str | None:
    """Overwrite the deleted payload's pages and the write-ahead log (SQLite); the failure."""
    try:
        click.echo(f"store: {store.forget_deleted()}")
    except StoreUnavailable as exc:
        return str(exc)
    return None


def _purge_search(settings: Settings, store: EventStore, event_id: str, claim_id: str) -> None:
    """Rewrite the claim in every generation of the search index, without the payload."""
    index = open_search_index(settings.database_url)
    try:
        generations = purge_search(index, store, store.scales, claim_id)
    except Exception as exc:
        raise click.ClickException(
            f"search purge FAILED ({exc}). The payload is gone from the store, but the search"
            f" index may still hold its text: run `claimledger redact {event_id} --purge-only`."
        ) from None
    finally:
        index.close()
    if generations:
        click.echo(f"purged: search index generation(s) {', '.join(map(str, generations))}:"
                   f" claim {claim_id} folded again from the log without the payload")
    else:
        click.echo("purged: no search index generation (none built)")


def _purge(settings: Settings, store: EventStore, event_id: str, claim_id: str) -> None:
    config = view_config(settings)
    retry = f"claimledger redact {event_id} --purge-only"
    try:
        purged = purge_claim(views_redis(settings, timeout=2.0), store, claim_id,
                             keys=config.keys, scales=load_scales(config.scales_file))
    except (RedisError, OSError) as exc:
        raise click.ClickException(
            f"purge FAILED: cannot reach Redis at {_safe(settings.redis_url)} ({exc}). The"
            f" payload is gone from the store, but the views may still serve its text:"
            f" run `{retry}` once Redis is back (or flush the views)."
        ) from None
    for line in report(purged):
        click.echo(line)


def report(purged: Purged) -> list[str]:
    """The ``purged:`` lines: each partition written, nothing of the text."""
    if not purged.partitions:
        return [f"purged: no views generation holds claim {purged.claim_id} (none built);"
                f" redactions purged so far: {purged.redactions}"]
    lines = []
    for part in purged.partitions:
        what = {
            "rewritten": "its record folded again from the log without the payload",
            "deleted": "its record deleted",
            "absent": "no record of it",
            "refolded": "a worker had already folded it again from the redacted log",
        }[part.outcome]
        left = f", left {part.indexes_left} index set(s)" if part.indexes_left else ""
        marker = ", redaction marker moved" if part.checked else " (generation being dropped)"
        lines.append(f"purged: generation {part.generation} partition {part.partition}:"
                     f" {what}{left}{marker}")
    lines.append(f"purged: claim {purged.claim_id} from {len(purged.partitions)} views"
                 f" partition(s); redactions purged so far: {purged.redactions}")
    return lines


def register(group: click.Group) -> None:
    """Add this command to the CLI group."""
    group.add_command(redact)
