"""Commands over the verifiable log: verify, audit and checkpoint (and init's part)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ledger import checkpoint as cp
from ledger.audit import audit as run_audit
from ledger.cosignature import parse_cosigner_key
from ledger.errors import IntegrityError
from ledger.log import LogService
from ledger.remote import CheckpointCheck, RemoteLog, RemoteReport, verify_remote
from ledger.remote_replay import PAGE, verify_all
from ledger.store import EventStore
from ledger.witnessed import witness_check

from ..settings import Settings
from .keys import checked_key, no_key_for_a_signed_log
from .store import store_from


def log_service(settings: Settings, store: EventStore) -> LogService:
    """The log service for the configured store, key and origin."""
    return LogService.open(
        store, settings.signing_key, settings.log_origin, interval=settings.checkpoint_interval
    )


def init_log(settings: Settings, store: EventStore) -> None:
    """``claimledger init``'s part: the tree nodes of older logs, the signing key, a checkpoint."""
    head = store.head()
    try:
        store.root(head)
    except IntegrityError:  # a ledger from before the tree: build it, with a progress bar
        with click.progressbar(length=head, label="building tree nodes", file=sys.stderr) as bar:
            built = store.backfill_nodes(progress=bar.update)
        click.echo(f"built the tree nodes of {built} events")
    created = not Path(settings.signing_key).exists()
    if created:  # never a second key for a log another key signed
        no_key_for_a_signed_log(settings, store)
    cp.load_or_create_signing_key(settings.signing_key)
    checked_key(settings, store)
    service = log_service(settings, store)
    if created:
        click.echo(f"created the signing key {settings.signing_key}")
    checkpoint = service.issue()
    click.echo(f"checkpoint at size {checkpoint.size}; verifier key {service.verifier_key}")


@click.command()
@click.option("--key", "key", help="verifier key for the checkpoint (default: the signing key's)")
@click.option("--batch", default=2000, show_default=True, help="events read per query")
@click.option("--quiet", is_flag=True, help="no progress bar")
@click.pass_obj
def audit(settings: Settings, key: str | None, batch: int, quiet: bool) -> None:
    """Recompute every leaf, chain link, tree node and the latest checkpoint from the store."""
    store = store_from(settings)
    if key is None and Path(settings.signing_key).exists():
        signing = cp.load_signing_key(settings.signing_key)
        key = cp.verifier_key(settings.log_origin, signing.public_key())
    head = store.head()
    with click.progressbar(
        length=head, label="auditing", file=sys.stderr, hidden=quiet or not sys.stderr.isatty()
    ) as bar:
        report = run_audit(store, key, batch=batch, progress=bar.update)
    click.echo(report.summary())
    if report.failure is not None:
        raise click.ClickException(f"audit failed at {report.failure}")


@click.command()
@click.pass_obj
def checkpoint(settings: Settings) -> None:
    """Issue a signed checkpoint for the current head now and print it."""
    store = store_from(settings)
    checked_key(settings, store)
    click.echo(log_service(settings, store).issue().note, nl=False)


@click.command()
@click.option("--url", required=True, help="the ledger API, e.g. https://ledger.example.org")
@click.option("--claim", "claim_id", help="also verify this claim's whole history")
@click.option("--all", "everything", is_flag=True,
              help="replay every event through GET /v1/events: payloads, leaves, chain links"
              " and the root at the signed size")
@click.option("--key", "key", help="the log's verifier key, pinned (name+id+key);"
              " default LEDGER_VERIFIER_KEY")
@click.option("--state", type=click.Path(dir_okay=False, path_type=Path),
              help="file keeping the last verified checkpoint (and with --all the replay)"
              " between runs")
@click.option("--token", help="bearer token (auditor role) if needed; default LEDGER_TOKEN")
@click.option("--page", type=click.IntRange(1, PAGE), default=PAGE, show_default=True,
              help="events fetched per request with --all")
@click.option("--quiet", is_flag=True, help="no progress bar with --all")
@click.option("--witness", "witnesses", multiple=True,
              help="a trusted witness's cosigner key (name+id+key, type 0x04); repeat")
@click.option("--min-witnesses", type=click.IntRange(0), default=None,
              help="refuse a checkpoint without this many valid cosignatures by the --witness"
              " keys (default: all of them)")
@click.pass_obj
def verify(
    settings: Settings, url: str, claim_id: str | None, everything: bool, key: str | None,
    state: Path | None, token: str | None, page: int, quiet: bool,
    witnesses: tuple[str, ...], min_witnesses: int | None,
) -> None:
    """Independently check the log over HTTP: signature, consistency, a claim's proofs, and
    with --all every event. Prints what it checked, in counts."""
    key = key or settings.verifier_key
    token = token or settings.token
    if key is None:
        raise click.UsageError("Missing option '--key' (or LEDGER_VERIFIER_KEY).")
    try:
        cp.parse_verifier_key(key)
    except cp.CheckpointError as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from None
    if claim_id is not None:
        claim_id = _whole_claim_id(claim_id)
    checks = _witness_checks(witnesses, min_witnesses)
    log = RemoteLog(url, token)
    reports: list[RemoteReport] = []
    shown = 0
    if everything:
        reports.append(_replay_all(log, key, state, page, quiet, checks))
        # said at once: a claim check that cannot run must not hide what the replay proved
        for line in reports[0].lines:
            click.echo(line)
        shown = len(reports[0].lines)
    if not everything or (claim_id is not None and reports[0].result.ok):
        reports.append(verify_remote(
            log, key, claim_id=claim_id, state=None if everything else state,
            checkpoint_checks=checks,
        ))
    report = reports[0]
    for other in reports[1:]:
        report.merge(other.result)
        report.lines.extend(other.lines)
        report.signed_sizes |= other.signed_sizes
        report.events += other.events
        report.consistency_proofs += other.consistency_proofs
    for line in report.lines[shown:]:
        click.echo(line)
    click.echo(report.counts())
    first = report.result.first_failure
    if first is not None:
        raise click.ClickException(f"verification failed at {first}")


def _whole_claim_id(text: str) -> str:
    """``--claim`` as a whole UUID: the verifier reads only the API, which knows no prefixes."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a whole claim id (a UUID such as"
            " 95d364cf-37b6-49b3-8416-7ac83d3b3d3d): the verifier asks the API, which takes"
            " no prefixes; `claimledger claims` lists the ids",
            param_hint="--claim",
        ) from None


def _witness_checks(witnesses: tuple[str, ...], minimum: int | None) -> list[CheckpointCheck]:
    """The cosignature check ``--witness``/``--min-witnesses`` ask for (none without them)."""
    if minimum is not None and minimum > len(witnesses):
        raise click.BadParameter(
            f"cannot require {minimum} of {len(witnesses)} --witness keys",
            param_hint="--min-witnesses",
        )
    if not witnesses:
        return []
    try:
        keys = [parse_cosigner_key(text) for text in witnesses]
    except cp.CheckpointError as exc:
        raise click.BadParameter(str(exc), param_hint="--witness") from None
    needed = len(keys) if minimum is None else minimum
    return [witness_check(keys, needed)] if needed else []


def _replay_all(
    log: RemoteLog, key: str, state: Path | None, page: int, quiet: bool,
    checks: Sequence[CheckpointCheck] = (),
) -> RemoteReport:
    """``verify_all`` with a progress bar on a terminal."""
    hidden = quiet or not sys.stderr.isatty()
    bar: Any = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="replaying", file=sys.stderr, hidden=hidden)
        bar.__enter__()

    try:
        return verify_all(
            log, key, state=state, page=page, start=start, checkpoint_checks=checks,
            progress=lambda n: bar.update(n) if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


def register(group: click.Group) -> None:
    """Add these commands to the CLI group."""
    for command in (verify, audit, checkpoint):
        group.add_command(command)
