"""A real ``claimledger serve`` (gunicorn) for tests: its environment with a temporary data
directory, the CLI, one API token per role, and the whole system with Redis and a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.credentials import ROLES, TOKEN_PREFIX
from ledger.store import EventStore, open_store
from tests.support.net import NO_REDIS, free_port
from tests.support.waiting import wait_until

CLI = [sys.executable, "-c", "from api.cli import main; main()"]


def ledger_env(directory: Path, **extra: str) -> dict[str, str]:
    """An environment with its own data directory and no LEDGER_* from outside.

    Redis is a closed port unless ``LEDGER_REDIS_URL`` is given: a server never enqueues
    view jobs on a Redis the test did not start.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "PROMETHEUS_"))}
    env.update(
        LEDGER_DATA_DIR=str(directory),
        LEDGER_DATABASE_URL=f"sqlite:///{directory / 'ledger.db'}",
        LEDGER_REDIS_URL=NO_REDIS,
        LEDGER_ACTOR="cli:e2e",
        LEDGER_RATE_LIMIT="off",
    )
    env.update(extra)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one ``claimledger`` command."""
    result = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"claimledger {' '.join(args)} failed: {result.stderr}")
    return result


def create_token(env: dict[str, str], name: str, role: str) -> str:
    """A new token made by ``claimledger tokens create``, which prints it alone on stdout."""
    out = cli(env, "tokens", "create", "--name", name, "--role", role).stdout
    token = out.strip()
    assert out == token + "\n"
    assert token.startswith(TOKEN_PREFIX)
    return token


@dataclass
class Server:
    """A running ``claimledger serve`` and what a test needs to talk to it."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = None, **kwargs: Any) -> httpx.Client:
        """An HTTP client, authenticated as ``role`` unless None."""
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def store(self) -> EventStore:
        """The server's event store, opened directly (to check what was written)."""
        return open_store(self.env["LEDGER_DATABASE_URL"])

    def head(self) -> int:
        """The log's last position."""
        store = self.store()
        try:
            return store.head()
        finally:
            store.close()

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL to the group if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def launch_serve(
    env: dict[str, str], log: Path, tokens: dict[str, str], *, port: int | None = None,
    workers: int = 2, ready_timeout: float = 60, threads: int = 1,
) -> Server:
    """``claimledger serve`` over an initialised ledger (on ``port``, else a free one),
    returned once /readyz answers 200; its output is appended to ``log``."""
    port = port or free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--workers", str(workers),
             "--threads", str(threads)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", env, process, log, tokens)

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}: {log.read_text()}")
        try:
            return httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, ready_timeout, f"the API on port {port} to answer /readyz")
    except BaseException:
        server.stop()
        raise
    return server


def start_server(
    directory: Path, workers: int = 2, *, threads: int = 1, **env_extra: str
) -> Server:
    """Initialise a ledger in ``directory``, make a token per role, serve it, wait until ready."""
    directory.mkdir(parents=True, exist_ok=True)
    env = ledger_env(directory, **env_extra)
    cli(env, "init")
    tokens = {role: create_token(env, f"e2e-{role}", role) for role in ROLES}
    return launch_serve(env, directory / "serve.log", tokens, workers=workers, threads=threads)


@contextmanager
def serving_with_views(directory: Path, workers: int = 2, **env_extra: str) -> Iterator[Server]:
    """A server with a private redis-server and a ``claimledger worker``: the whole system.

    Yields once the views and the search index exist (the list and a search answer);
    everything is stopped afterwards.
    """
    from tests.support.redis_server import RedisServer
    from tests.support.workers import FAST, WorkerProcess

    with RedisServer(directory / "redis") as redis:
        running = start_server(
            directory / "ledger", workers, LEDGER_REDIS_URL=redis.url, **FAST, **env_extra
        )
        worker = WorkerProcess(running.env, directory / "worker.log")
        try:
            worker.start()
            with running.client("reader") as reader:
                wait_until(
                    lambda: reader.get("/v1/claims", params={"limit": 1}).status_code == 200,
                    60, f"the worker to build the views (see {directory / 'worker.log'})",
                )
                wait_until(
                    lambda: reader.get("/v1/claims", params={"q": "x"}).status_code == 200,
                    60, f"the worker to build the search index (see {directory / 'worker.log'})",
                )
            yield running
        finally:
            worker.stop()
            running.stop()
