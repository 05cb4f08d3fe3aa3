"""``claimledger tokens``: create, list and revoke API tokens; show who did what, when."""

from __future__ import annotations

import dataclasses
import json

import click

from ledger.timeutil import format_time, utcnow

from .. import credentials
from ..settings import Settings
from .store import store_from


@click.group()
def tokens() -> None:
    """API tokens (only their SHA-256 is stored)."""


@tokens.command()
@click.option("--name", required=True, help="who holds it; recorded as the actor token:NAME")
@click.option("--role", required=True, type=click.Choice(credentials.ROLES))
@click.pass_obj
def create(settings: Settings, name: str, role: str) -> None:
    """Create a token and print it, alone, on stdout (it is shown only this once)."""
    record, token = credentials.create(
        store_from(settings), name=name, role=role, created_by=settings.actor
    )
    click.echo(token)
    click.echo(f"created token {record.id} for {name} ({role}); it is not shown again", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_obj
def list_(settings: Settings, as_json: bool) -> None:
    """Every token ever created, revoked ones included."""
    records = store_from(settings).list_tokens()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in records], indent=2))
        return
    for r in records:
        state = f"revoked {r.revoked_at} by {r.revoked_by}" if r.revoked_at else "active"
        created = f"created {r.created_at} by {r.created_by}"
        click.echo(f"{r.id}  {r.name:<20} {r.role:<8} {created}  {state}")


@tokens.command()
@click.argument("token_id")
@click.pass_obj
def revoke(settings: Settings, token_id: str) -> None:
    """Revoke a token by its id (see ``tokens list``)."""
    store = store_from(settings)
    if not store.revoke_token(token_id, actor=settings.actor, at=format_time(utcnow())):
        raise click.ClickException(f"no active token has the id {token_id!r}")
    click.echo(f"revoked token {token_id}")


@tokens.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_obj
def log(settings: Settings, as_json: bool) -> None:
    """Who created or revoked which token, and when, oldest first."""
    entries = store_from(settings).token_log()
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        click.echo(f"{e['at']}  {e['action']:<8} {e['token_id']}  by {e['actor']}")


def register(group: click.Group) -> None:
    """Add ``tokens`` to the CLI group."""
    group.add_command(tokens)
