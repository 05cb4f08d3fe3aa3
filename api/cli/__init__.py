"""The ``claimledger`` command line: one group; the commands in the modules beside it."""

from __future__ import annotations

import sys
from typing import Any

import click

from ledger.errors import LedgerError

from ..settings import ConfigError, Settings


class LedgerGroup(click.Group):
    """A group that turns expected failures into one clear line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (LedgerError, ConfigError, OSError, ValueError) as exc:
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    errors = getattr(exc, "errors", None)
    if errors:
        first = next(iter(errors.items()))
        text += f" ({first[0]}: {'; '.join(map(str, first[1]))}"
        text += f"; and {len(errors) - 1} more)" if len(errors) > 1 else ")"
    return " ".join(text.split())


@click.group(cls=LedgerGroup)
@click.option("--database-url", help="sqlite:///path or postgresql://… (LEDGER_DATABASE_URL)")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """claim ledger: an event-sourced, verifiable ledger of claims."""
    try:
        ctx.obj = Settings.from_env(database_url=database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _register() -> None:
    from . import ledger_commands

    ledger_commands.register(cli)
    for name in ("token_commands", "serve", "workers", "log_commands", "keys", "witness", "redact"):
        module = _optional_module(name)
        if module is not None:
            module.register(cli)


def _optional_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"api.cli.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"api.cli.{name}":
            return None
        raise


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``claimledger`` console script."""
    _register()
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="claimledger")
