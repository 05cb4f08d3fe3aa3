"""The whole system for the soak, started for real: a private redis-server, ``claimledger
init``, a token per client role, ``claimledger serve --workers 2`` and one ``claimledger
worker``; and the resident memory of every process it started, read from /proc."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.http import _wait, free_port
from tests.support.redis_server import RedisServer

BIN = Path(sys.executable).parent
#: the client identities the soak drives, each with its own token
TOKENS = {"editor-1": "editor", "editor-2": "editor", "auditor": "auditor", "reader": "reader"}


def pg_schema_url(base: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL server of ``base``; returns (its URL, its name)."""
    import psycopg

    schema = f"soak_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def drop_pg_schema(base: str, schema: str) -> None:
    """Drop a schema made by ``pg_schema_url``."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _children() -> dict[int, list[int]]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    return parents


def descendants(pid: int, parents: dict[int, list[int]] | None = None) -> list[int]:
    """Every process below ``pid``, read from /proc."""
    parents = _children() if parents is None else parents
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class System:
    """The running processes of one soak and how to reach them."""

    directory: Path
    database_url: str
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    redis: RedisServer | None = None
    serve: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None

    def start(self) -> System:
        """Start Redis, initialise the ledger, make the tokens, serve, start the worker."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(self.directory / "redis").start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        self.env.update(LEDGER_DATA_DIR=str(self.directory),
                        LEDGER_DATABASE_URL=self.database_url, LEDGER_REDIS_URL=self.redis.url)
        self.cli("init")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.serve = self._spawn("serve.log", "serve", "--workers", "2", "--port", str(port))
        self.worker = self._spawn("worker.log", "worker")
        making = {name: subprocess.Popen(  # all at once: each command starts a Python
            [str(BIN / "claimledger"), "tokens", "create", "--name", f"soak-{name}", "--role",
             role], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name, role in TOKENS.items()}
        for name, process in making.items():
            out, err = process.communicate(timeout=120)
            if process.returncode != 0:
                raise RuntimeError(f"claimledger tokens create failed: {err}")
            self.tokens[name] = out.strip()
        _wait(f"{self.url}/readyz")
        self._wait_for_views()
        return self

    def _wait_for_views(self, timeout: float = 120) -> None:
        """Wait until the list answers from built views: /readyz says 200 while the worker
        is still building the first generation, and a list read then is a 503."""
        request = urllib.request.Request(f"{self.url}/v1/claims?limit=1", headers={
            "Authorization": f"Bearer {self.tokens['reader']}"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:  # urllib's HTTPError (the 503) is an OSError too
                pass
            if time.monotonic() >= deadline:
                raise RuntimeError("the claim views were not built in time")
            time.sleep(0.1)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one ``claimledger`` command against this system."""
        result = subprocess.run([str(BIN / "claimledger"), *args], env=self.env,
                                capture_output=True, text=True, timeout=600, check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"claimledger {' '.join(args)} failed: {result.stderr}")
        return result

    def _spawn(self, log: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.directory / log).open("ab") as out:
            return subprocess.Popen([str(BIN / "claimledger"), *args], env=self.env,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def processes(self) -> list[tuple[str, int]]:
        """(role, pid) of every process started, as they are now."""
        parents = _children()
        found: list[tuple[str, int]] = []
        if self.redis is not None and self.redis.process is not None:
            found.append(("redis-server", self.redis.process.pid))
        if self.serve is not None:
            found.append(("gunicorn master", self.serve.pid))
            found += [("gunicorn worker", pid) for pid in descendants(self.serve.pid, parents)]
        if self.worker is not None:
            found.append(("rq worker", self.worker.pid))
            found += [("rq child", pid) for pid in descendants(self.worker.pid, parents)]
        return found

    def alive(self) -> list[str]:
        """Names of the started processes that have exited (empty when all run)."""
        dead = []
        for name, process in (("serve", self.serve), ("worker", self.worker),
                              ("redis", self.redis.process if self.redis else None)):
            if process is not None and process.poll() is not None:
                dead.append(f"{name} exited with {process.returncode}")
        return dead

    def stop(self) -> None:
        """Stop the worker, the API and Redis (SIGTERM, then SIGKILL to what lingers)."""
        for process in (self.worker, self.serve):
            if process is None or process.poll() is not None:
                continue
            stragglers = [(pid, start_time(pid)) for pid in descendants(process.pid)]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            deadline = time.monotonic() + 5
            for pid, started in stragglers:  # RQ puts each work-horse in a session of its own
                while start_time(pid) == started and time.monotonic() < deadline:
                    time.sleep(0.05)
                if started is not None and start_time(pid) == started:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        if self.redis is not None:
            self.redis.stop()

    def remove(self) -> None:
        """Delete the temp directory."""
        shutil.rmtree(self.directory, ignore_errors=True)
