"""Fault-suite helpers: clients that append with Idempotency-Keys and retry until a 201,
restarting and killing a real ``claimledger serve``, and checks of the log afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.store import EventStore
from tests.support.server import CLI, Server, cli, create_token, launch_serve, ledger_env
from tests.support.waiting import wait_until

#: a write answered with one of these is retried with the same key (the server was down)
RETRYABLE = frozenset({500, 502, 503, 504})
#: how long one write may keep failing before the test gives up on it
WRITE_DEADLINE = 120.0


@dataclass
class Endpoint:
    """Where the API is now (a restart may move it); clients read it before every try."""

    url: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> str:
        """The current base URL."""
        with self.lock:
            return self.url

    def set(self, url: str) -> None:
        """Point the clients at a new base URL."""
        with self.lock:
            self.url = url


@dataclass
class Ack:
    """What the server acknowledged for one Idempotency-Key."""

    key: str
    claim_id: str
    event_id: str
    position: int
    tries: int
    replayed: bool
    seconds: float


class Appender(threading.Thread):
    """Appends up to ``count`` events, each with its own Idempotency-Key, retrying each
    until a 201; ``stop`` ends it between writes, never in the middle of one.

    Every ``claim_every``-th write records a new claim; the others add a note to the
    client's latest claim. The key is in the body too, so the log shows which write an
    event came from even without its metadata.
    """

    def __init__(self, name: str, endpoint: Endpoint, token: str, count: int,
                 claim_every: int = 5) -> None:
        super().__init__(name=name, daemon=True)
        self.endpoint, self.token, self.count = endpoint, token, count
        self.claim_every = claim_every
        self.acks: dict[str, Ack] = {}
        self.failures: list[str] = []
        self.transport_errors = 0
        self.server_errors = 0
        self.stop = threading.Event()

    def run(self) -> None:
        claim_id: str | None = None
        with httpx.Client(timeout=10) as http:
            for number in range(self.count):
                if self.stop.is_set():
                    return
                key = f"{self.name}-{number:06d}"
                if claim_id is None or number % self.claim_every == 0:
                    path, body = "/v1/claims", claim_body(key)
                else:
                    path, body = f"/v1/claims/{claim_id}/notes", {"text": f"note {key}"}
                ack = self._write(http, path, body, key)
                if ack is None:
                    return
                self.acks[key] = ack
                claim_id = ack.claim_id

    def _write(self, http: httpx.Client, path: str, body: dict[str, Any],
               key: str) -> Ack | None:
        """POST until a 201 (the first or a replay); None after a non-retryable answer."""
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        began = time.monotonic()
        tries = 0
        outcome: list[Ack | None] = []

        def attempt() -> bool:
            """One try; True once the write is settled (acknowledged or refused)."""
            nonlocal tries
            tries += 1
            try:
                response = http.post(self.endpoint.get() + path, json=body, headers=headers)
            except httpx.TransportError:
                self.transport_errors += 1
                return False
            if response.status_code == 201:
                envelope = response.json()
                outcome.append(Ack(key, envelope["claim_id"], envelope["id"],
                                   envelope["position"], tries,
                                   response.headers.get("Idempotency-Replayed") is not None,
                                   time.monotonic() - began))
                return True
            if response.status_code not in RETRYABLE:
                self.failures.append(f"{key}: {response.status_code} {response.text[:300]}")
                outcome.append(None)
                return True
            self.server_errors += 1
            return False

        try:  # retried with the same key every 20 ms until settled
            wait_until(attempt, WRITE_DEADLINE, f"a 201 for {key}")
        except AssertionError:
            self.failures.append(f"{key}: no 201 within {WRITE_DEADLINE}s")
            return None
        return outcome[0]


def claim_body(key: str) -> dict[str, Any]:
    """A new claim whose statement names the write's key."""
    return {
        "statement": f"Claim written under key {key}.",
        "claimant": {"name": "Fault Injector"},
        "appearance": {"outlet": "Fault Gazette", "published_at": "2024-05-01T10:00:00Z"},
        "tags": ["faults"],
    }


def all_acks(clients: list[Appender]) -> dict[str, Ack]:
    """Every acknowledged write of every client, by key."""
    acks: dict[str, Ack] = {}
    for client in clients:
        acks.update(client.acks)
    return acks


def acknowledged(clients: list[Appender]) -> int:
    """How many writes the clients have had acknowledged so far."""
    return sum(len(client.acks) for client in clients)


@dataclass
class LogCheck:
    """What the log holds for the clients' keys."""

    head: int
    events_per_key: Counter[str]
    duplicates: int
    missing: list[str]
    gaps: list[int]
    mismatched: list[str]


def check_log(store: EventStore, acks: dict[str, Ack]) -> LogCheck:
    """Read the whole log: events per Idempotency-Key, gaps in positions, and whether each
    acknowledged event is the one in the log under its key."""
    per_key: Counter[str] = Counter()
    by_key: dict[str, tuple[str, int]] = {}
    positions: list[int] = []
    for event in store.iter_all():
        positions.append(event.position)
        key = event.metadata.get("idempotency_key")
        if key is not None:
            per_key[key] += 1
            by_key[key] = (event.id, event.position)
    head = store.head()
    expected = list(range(1, head + 1))
    gaps = sorted(set(expected) - set(positions)) if positions != expected else []
    mismatched = [k for k, a in acks.items()
                  if k in by_key and by_key[k] != (a.event_id, a.position)]
    return LogCheck(
        head=head,
        events_per_key=per_key,
        duplicates=sum(n - 1 for n in per_key.values() if n > 1),
        missing=sorted(k for k in acks if per_key[k] == 0),
        gaps=gaps,
        mismatched=mismatched,
    )


def serve_for_editors(directory: Path, **env_extra: str) -> Server:
    """``start_server`` cut to what the fault tests need (one editor token), since every
    ``claimledger`` command costs a second of start-up; metrics files stay in ``directory``."""
    metrics = directory / "metrics"
    metrics.mkdir(parents=True)
    env = ledger_env(directory, PROMETHEUS_MULTIPROC_DIR=str(metrics), **env_extra)
    cli(env, "init")
    tokens = {"editor": create_token(env, "faults-editor", "editor")}
    return launch_serve(env, directory / "serve.log", tokens)


def launch(env: dict[str, str], port: int, log: Path, workers: int = 2,
           ready_timeout: float = 60) -> subprocess.Popen[bytes]:
    """Start ``claimledger serve`` on ``port`` over an initialised ledger; wait for /readyz."""
    return launch_serve(env, log, {}, port=port, workers=workers,
                        ready_timeout=ready_timeout).process


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group (gunicorn's master and its workers) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def audit(server: Server) -> subprocess.CompletedProcess[str]:
    """``claimledger audit --quiet`` over the server's ledger."""
    return subprocess.run([*CLI, "audit", "--quiet"], env=server.env, capture_output=True,
                          text=True, timeout=300, check=False)
