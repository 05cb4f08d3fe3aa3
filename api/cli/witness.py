"""``claimledger witness key`` and ``claimledger witness serve``: run a C2SP tlog-witness."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ledger import checkpoint as cp
from ledger import cosignature
from ledger.durable import make_directories

from ..settings import Settings
from ..witness_app import parse_logs

_KEY = click.option(
    "--key", "key_path", type=click.Path(dir_okay=False, path_type=Path),
    help="the witness's Ed25519 key file, created if missing (default LEDGER_WITNESS_KEY)",
)
_NAME = click.option(
    "--name", help="the witness's key name, a schema-less URL by custom (LEDGER_WITNESS_NAME)",
)


def _key(settings: Settings, key_path: Path | None, name: str | None) -> tuple[Path, str, str]:
    path = key_path or settings.witness_key
    name = name or settings.witness_name
    if not cp.is_valid_key_name(name):
        raise click.BadParameter(f"{name!r} is not a key name (one word, no '+')")
    make_directories(path.parent)
    signing = cp.load_or_create_signing_key(path)
    return path, name, cosignature.cosigner_key(name, signing)


@click.group()
def witness() -> None:
    """A C2SP tlog-witness: cosigns checkpoints consistent with what it saw before."""


@witness.command()
@_KEY
@_NAME
@click.pass_obj
def key(settings: Settings, key_path: Path | None, name: str | None) -> None:
    """Print the witness's verifier key (LEDGER_WITNESSES and verify --witness take it)."""
    click.echo(_key(settings, key_path, name)[2])


@witness.command()
@_KEY
@_NAME
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="the witness's SQLite state (default LEDGER_WITNESS_DB)")
@click.option("--log", "logs", multiple=True,
              help="a log to follow: [ORIGIN=]VERIFIER_KEY (repeat; default LEDGER_WITNESS_LOGS)")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16))
@click.pass_obj
def serve(
    settings: Settings, key_path: Path | None, name: str | None, db: Path | None,
    logs: tuple[str, ...], host: str, port: int, workers: int,
) -> None:
    """Serve POST /add-checkpoint under gunicorn (this process becomes its master)."""
    entries = list(logs or settings.witness_logs)
    if not entries:
        raise click.UsageError("name at least one log to follow with --log or LEDGER_WITNESS_LOGS")
    followed = parse_logs(entries)  # a malformed key fails here, before gunicorn starts
    path, name, vkey = _key(settings, key_path, name)
    state = db or settings.witness_db
    make_directories(state.parent)
    click.echo(f"witness {vkey}", err=True)
    click.echo(f"following {', '.join(sorted(followed))}", err=True)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    app = f"api.witness_app:serve_app({str(path)!r}, {name!r}, {str(state)!r}, {entries!r})"
    argv = [
        sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
        "--threads", "4", "--timeout", "30", app,
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606 (no shell involved)


def register(group: click.Group) -> None:
    """Add ``witness`` to the CLI group."""
    group.add_command(witness)
