"""The scale-out test's clients: one process each, behind a pretend load balancer.

A client spreads its requests over every API instance in turn (as a round-robin load
balancer would) and retries a write that got no answer or a 5xx on the next instance
with the same Idempotency-Key until it gets its 201. It appends claims, notes and
denials, reads the claim list, its claims' histories and the signed checkpoint, and
journals everything as JSON lines, flushed at once: every answer (when it was asked and
answered, by which instance, with which status), every acknowledged append (its key,
event id and position) and every checkpoint note it was served.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.waiting import wait_until

#: answers after which a write is retried (with the same key, on the next instance)
RETRYABLE = frozenset({500, 502, 503, 504})
#: how long one write may keep failing before the client gives up on it
WRITE_DEADLINE = 90.0
DENIAL = {"by": {"name": "The Ministry"}, "note": "Denied at a press briefing.",
          "occurred_at": "2024-05-02T09:00:00Z"}


class Journal:
    """A client's JSON-lines journal."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle

    def write(self, **record: Any) -> None:
        """One line, flushed (a client killed with the test leaves whole lines)."""
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()


class Client:
    """One client's requests over ``urls`` with its tokens."""

    def __init__(self, name: str, urls: list[str], tokens: dict[str, str],
                 journal: Journal) -> None:
        self.name, self.urls, self.tokens, self.journal = name, urls, tokens, journal
        self.turn = sum(map(ord, name))  # clients start on different instances
        self.http = httpx.Client(timeout=15)

    def request(self, method: str, path: str, kind: str, role: str,
                **options: Any) -> tuple[int, httpx.Response | None]:
        """One request to the next instance; (instance, response or None) journaled."""
        instance = self.turn % len(self.urls)
        self.turn += 1
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **options.pop("headers", {})}
        began = time.monotonic()
        try:
            response: httpx.Response | None = self.http.request(
                method, self.urls[instance] + path, headers=headers, **options)
        except httpx.TransportError:
            response = None
        self.journal.write(t0=began, t1=time.monotonic(), instance=instance, kind=kind,
                           status=None if response is None else response.status_code)
        return instance, response

    def write(self, path: str, body: dict[str, Any], key: str, kind: str) -> dict[str, Any]:
        """POST until a 201 (the first or a replay), trying each instance in turn."""
        tries = 0

        def acknowledged() -> dict[str, Any] | None:
            nonlocal tries
            tries += 1
            instance, response = self.request("POST", path, kind, "editor", json=body,
                                              headers={"Idempotency-Key": key})
            if response is None or response.status_code in RETRYABLE:
                return None
            if response.status_code != 201:
                raise AssertionError(f"{key}: {response.status_code} {response.text[:300]}")
            envelope: dict[str, Any] = response.json()
            self.journal.write(
                ack=key, t=time.monotonic(), event_id=envelope["id"],
                position=envelope["position"], claim_id=envelope["claim_id"],
                instance=instance, tries=tries,
                replayed=response.headers.get("Idempotency-Replayed") is not None)
            return envelope

        envelope: dict[str, Any] = wait_until(acknowledged, WRITE_DEADLINE, f"a 201 for {key}")
        return envelope

    def read(self, path: str, kind: str, role: str = "reader") -> None:
        """One read; a checkpoint note served is journaled."""
        instance, response = self.request("GET", path, kind, role)
        if kind == "checkpoint" and response is not None and response.status_code == 200:
            self.journal.write(note=response.text, instance=instance)

    def step(self, number: int, claims: list[str]) -> None:
        """The ``number``-th step of the mix: a new claim, a note, a denial, or reads."""
        key = f"{self.name}-{number:06d}"
        turn = number % 6
        if not claims or turn == 0:
            body = {"statement": f"Claim written under key {key}.",
                    "claimant": {"name": "Scale Out"},
                    "appearance": {"outlet": "Scale Gazette",
                                   "published_at": "2024-05-01T10:00:00Z"},
                    "tags": ["scale-out"]}
            claims.append(self.write("/v1/claims", body, key, "claim")["claim_id"])
        elif turn in (1, 3):
            self.write(f"/v1/claims/{claims[-1]}/notes", {"text": f"note {key}"}, key, "note")
        elif turn == 4:
            self.write(f"/v1/claims/{claims[number % len(claims)]}/denials", DENIAL, key,
                       "denial")
        elif turn == 2:
            self.read("/v1/claims?limit=20", "list")
            self.read(f"/v1/claims/{claims[number % len(claims)]}/history", "history")
        else:
            self.read(f"/v1/claims/{claims[-1]}", "claim-read")
            self.read("/v1/log/checkpoint", "checkpoint", role="auditor")


def run_client(name: str, urls: list[str], tokens: dict[str, str], journal_path: str,
               stop: Any) -> None:
    """A client process: steps until ``stop`` (a multiprocessing Event) is set; a write
    in progress is finished (acknowledged) first."""
    claims: list[str] = []
    with Path(journal_path).open("a", encoding="utf-8") as handle:
        journal = Journal(handle)
        client = Client(name, urls, tokens, journal)
        number = 0
        try:
            while not stop.is_set():
                client.step(number, claims)
                number += 1
        except AssertionError as exc:
            journal.write(failure=str(exc))
        finally:
            client.http.close()
            journal.write(done=number)
