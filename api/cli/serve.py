"""``claimledger serve``: the API under gunicorn, with the same LEDGER_* settings."""

from __future__ import annotations

import os
import sys

import click

from ledger.errors import StoreUnavailable

from ..settings import Settings
from .keys import checked_key
from .store import store_from


@click.command()
@click.option("--host", help="address to bind (default LEDGER_HOST, 127.0.0.1)")
@click.option("--port", type=click.IntRange(1, 65535), help="default LEDGER_PORT, 8000")
@click.option("--workers", type=click.IntRange(1, 64),
              help="gunicorn worker processes (default LEDGER_WORKERS, 2)")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 64),
              help="threads per worker (more than 1 selects gunicorn's gthread worker)")
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="seconds before a silent worker is restarted")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="log each request to stdout (never headers, so never tokens)")
@click.pass_obj
def serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int,
    timeout: int,
    access_log: bool,
) -> None:
    """Run the HTTP API under gunicorn (this process becomes the gunicorn master)."""
    store = store_from(settings)
    try:
        store.ping()
        checked_key(settings, store)  # one key per log: refuse another before serving
    except StoreUnavailable as exc:
        raise click.ClickException(
            f"the store is not ready (run `claimledger init` first): {exc}"
        ) from None
    finally:
        store.close()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", "python:api.gunicorn_conf",
        "--bind", bind,
        "--workers", str(workers),
        "--threads", str(threads),
        "--timeout", str(timeout),
    ]
    env = dict(os.environ, LEDGER_DATABASE_URL=settings.database_url)
    # the API logs each request as one JSON line itself (api/request_log.py); gunicorn's own
    # access log would repeat it in another format
    if not access_log:
        env["LEDGER_REQUEST_LOG"] = "0"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [*argv, "api.wsgi:app"], env)  # noqa: S606 (no shell involved)


def register(group: click.Group) -> None:
    """Add ``serve`` to the CLI group."""
    group.add_command(serve)
