"""Multi-event appends under a fault: importers that record every answer, and the checks
that the log holds each import whole or not at all.

Every import is one ``ClaimRecorded`` and a few ``NoteAdded`` lines sent to
``/v1/imports`` with its own Idempotency-Key, which the server stores in each event's
metadata: the log can be grouped back into requests afterwards.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from api.errors import PROBLEM_BASE, PROBLEM_TYPE
from ledger.store import EventStore
from tests.support.server import Server, cli, create_token, launch_serve, ledger_env
from tests.support.waiting import wait_until

NDJSON = {"Content-Type": "application/x-ndjson"}
#: a client's pause after a 503 before its next request (it would honour Retry-After)
PAUSE_AFTER_503 = 0.02


def serve_editor(directory: Path, workers: int = 2, **env_extra: str) -> Server:
    """``start_server`` with one editor token only: each ``claimledger`` run costs a second."""
    directory.mkdir(parents=True, exist_ok=True)
    env = ledger_env(directory, **env_extra)
    cli(env, "init")
    tokens = {"editor": create_token(env, "faults-editor", "editor")}
    return launch(env, tokens, directory / "serve.log", workers)


def launch(env: dict[str, str], tokens: dict[str, str], log: Path, workers: int = 2) -> Server:
    """``claimledger serve`` over an initialised ledger on a free port, once /readyz is 200."""
    return launch_serve(env, log, dict(tokens), workers=workers)


def import_body(key: str, notes: int) -> bytes:
    """An NDJSON import: a claim and ``notes`` notes on it (``notes + 1`` events)."""
    lines: list[dict[str, Any]] = [{
        "claim_ref": "c",
        "type": "ClaimRecorded",
        "data": {
            "statement": f"A claim imported under a fault ({key}).",
            "claimant": {"name": "Fault Suite"},
            "appearance": {"outlet": "tests/faults"},
        },
    }]
    lines += [
        {"claim_ref": "c", "type": "NoteAdded", "data": {"text": f"note {n} of {key}"}}
        for n in range(notes)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@dataclass(frozen=True)
class Answer:
    """One request and what the server said."""

    key: str
    events: int
    started: float
    finished: float
    status: int
    headers: dict[str, str]
    body: str

    @property
    def seconds(self) -> float:
        """How long the answer took."""
        return self.finished - self.started


@dataclass
class Importers:
    """``count`` threads importing until stopped; every answer is kept."""

    server: Server
    count: int = 3
    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def __enter__(self) -> Importers:
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(self.count)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop between requests and wait for the threads."""
        self._stop.set()
        for thread in self._threads:
            thread.join(120)
        if self.errors:
            raise AssertionError(f"an importer failed: {self.errors[0]!r}") from self.errors[0]

    def _run(self, n: int) -> None:
        try:
            with self.server.client("editor") as client:
                sent = 0
                while not self._stop.is_set():
                    sent += 1
                    answer = send(client, str(uuid.uuid4()), 1 + (n + sent) % 4)
                    with self._lock:
                        self.answers.append(answer)
                    if answer.status == 503:
                        self._stop.wait(PAUSE_AFTER_503)
        except BaseException as exc:  # surfaced by stop()
            self.errors.append(exc)

    def since(self, moment: float, status: int) -> list[Answer]:
        """Answers with ``status`` to requests sent after ``moment`` (time.monotonic)."""
        with self._lock:
            return [a for a in self.answers if a.started >= moment and a.status == status]

    def statuses(self) -> Counter[int]:
        """How many answers of each status."""
        with self._lock:
            return Counter(a.status for a in self.answers)


def send(client: httpx.Client, key: str, notes: int) -> Answer:
    """POST one import of ``notes + 1`` events with Idempotency-Key ``key``."""
    started = time.monotonic()
    response = client.post(
        "/v1/imports", content=import_body(key, notes), headers={**NDJSON, "Idempotency-Key": key}
    )
    return Answer(key, notes + 1, started, time.monotonic(), response.status_code,
                  dict(response.headers), response.text)


def assert_unavailable_problem(answer: Answer) -> None:
    """A 503 must be the store-unavailable problem with Retry-After, never anything else."""
    assert answer.status == 503, answer
    assert answer.headers.get("retry-after", "").isdigit(), answer
    assert answer.headers.get("content-type", "").startswith(PROBLEM_TYPE), answer
    problem = json.loads(answer.body)
    assert problem["status"] == 503
    assert problem["type"] == PROBLEM_BASE + "store-unavailable", problem


def assert_only_201_or_503(answers: list[Answer]) -> None:
    """Every answer is a 201 or the store-unavailable problem (no 500, no other error)."""
    others = [a for a in answers if a.status not in (201, 503)]
    assert not others, f"{len(others)} answers neither 201 nor 503, e.g. {others[0]}"
    for answer in answers:
        if answer.status == 503:
            assert_unavailable_problem(answer)


#: how long a settling retry may keep getting the store-unavailable 503 (a gunicorn worker
#: that has not served since the outage still holds a dead pooled connection: its first
#: request answers 503 with Retry-After and drops it, as a client is told to retry)
SETTLE_SECONDS = 30.0


def settle(server: Server, answers: list[Answer]) -> dict[str, int]:
    """Retry every key that got a 503 (same key, same body) until a 201: events per key.

    Each retry that is not a 201 must be the store-unavailable problem, and the 201 must
    come within ``SETTLE_SECONDS``."""
    expected = {a.key: a.events for a in answers if a.status == 201}
    with server.client("editor") as client:
        for answer in answers:
            if answer.status == 503 and answer.key not in expected:
                def accepted(key: str = answer.key, notes: int = answer.events - 1) -> bool:
                    again = send(client, key, notes)
                    if again.status != 201:
                        assert_unavailable_problem(again)
                    return again.status == 201

                wait_until(accepted, SETTLE_SECONDS, f"a 201 for import {answer.key}", 0.05)
                expected[answer.key] = answer.events
    return expected


@dataclass(frozen=True)
class LogFacts:
    """What the log holds, grouped back into requests."""

    head: int
    keys: int


def assert_whole_imports(store: EventStore, expected: dict[str, int]) -> LogFacts:
    """Positions run 1..head without a gap; each key's events are exactly one contiguous run
    of the size its request sent (no partial import, none twice); every expected key is there."""
    events = list(store.iter_all())
    positions = [e.position for e in events]
    assert positions == list(range(1, len(events) + 1)), "positions have a gap"
    runs: dict[str, list[int]] = {}
    for event in events:
        key = event.metadata.get("idempotency_key")
        assert isinstance(key, str), f"position {event.position} has no idempotency key"
        runs.setdefault(key, []).append(event.position)
    for key, run in runs.items():
        assert run == list(range(run[0], run[0] + len(run))), f"import {key} is not contiguous"
        assert len(run) == expected.get(key), f"import {key}: {len(run)} events in the log"
    missing = set(expected) - set(runs)
    assert not missing, f"{len(missing)} acknowledged imports are not in the log: {missing}"
    return LogFacts(len(events), len(runs))


def assert_settled_log(server: Server, answers: list[Answer]) -> LogFacts:
    """Settle every 503'd import with its key, then check the log holds each whole import
    once and ``claimledger audit`` passes (``cli`` fails the test otherwise)."""
    expected = settle(server, answers)
    store = server.store()
    try:
        facts = assert_whole_imports(store, expected)
    finally:
        store.close()
    cli(server.env, "audit", "--quiet")
    return facts
