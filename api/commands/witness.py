"""``claimledger witness key`` and ``claimledger witness serve``: run a C2SP tlog-witness."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ledger import checkpoint as cp
from ledger import cosignature

from ..witness_app import parse_logs

_KEY = click.option(
    "--key", "key_path", type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("LEDGER_WITNESS_KEY", "var/witness.key"),
    show_default="LEDGER_WITNESS_KEY or var/witness.key",
    help="the witness's Ed25519 key file (created if missing)",
)
_NAME = click.option(
    "--name", default=lambda: os.environ.get("LEDGER_WITNESS_NAME", "claimledger-witness"),
    show_default="LEDGER_WITNESS_NAME or claimledger-witness",
    help="the witness's key name (a schema-less URL is customary)",
)


@click.group()
def witness() -> None:
    """A C2SP tlog-witness: cosigns checkpoints consistent with what it saw before."""


@witness.command()
@_KEY
@_NAME
def key(key_path: Path, name: str) -> None:
    """Print the witness's verifier key (LEDGER_WITNESSES and verify --witness take it)."""
    key_path.parent.mkdir(parents=True, exist_ok=True)
    signing = cp.load_or_create_signing_key(key_path)
    click.echo(cosignature.cosigner_key(name, signing))


@witness.command()
@_KEY
@_NAME
@click.option(
    "--db", "db", type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("LEDGER_WITNESS_DB", "var/witness.db"),
    show_default="LEDGER_WITNESS_DB or var/witness.db", help="the witness's SQLite state",
)
@click.option(
    "--log", "logs", multiple=True,
    help="a log to follow: [ORIGIN=]VERIFIER_KEY (repeat; default LEDGER_WITNESS_LOGS)",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16))
def serve(
    key_path: Path, name: str, db: Path, logs: tuple[str, ...], host: str, port: int,
    workers: int,
) -> None:
    """Serve POST /add-checkpoint under gunicorn (this process becomes its master)."""
    entries = list(logs) or os.environ.get("LEDGER_WITNESS_LOGS", "").replace(",", " ").split()
    if not entries:
        raise click.UsageError("name at least one log to follow with --log or LEDGER_WITNESS_LOGS")
    followed = parse_logs(entries)  # a malformed key fails here, before gunicorn starts
    key_path.parent.mkdir(parents=True, exist_ok=True)
    signing = cp.load_or_create_signing_key(key_path)
    click.echo(f"witness {cosignature.cosigner_key(name, signing)}", err=True)
    click.echo(f"following {', '.join(sorted(followed))}", err=True)
    env = dict(
        os.environ,
        LEDGER_WITNESS_KEY=str(key_path),
        LEDGER_WITNESS_NAME=name,
        LEDGER_WITNESS_DB=str(db),
        LEDGER_WITNESS_LOGS=" ".join(entries),
    )
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    argv = [
        sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
        "--threads", "4", "--timeout", "30", "api.witness_app:from_env()",
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)  # noqa: S606 (no shell involved)


def register(group: click.Group) -> None:
    """Add ``witness`` to the CLI group."""
    group.add_command(witness)
