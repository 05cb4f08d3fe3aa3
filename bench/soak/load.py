"""The soak's clients: editors, auditors and readers issuing operations open-loop at a
steady rate from a few threads, every answer recorded and every proof checked."""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ledger import checkpoint as cp
from ledger import merkle

#: share of the operations per client role
MIX = (("editor", 0.4), ("auditor", 0.3), ("reader", 0.3))
OUTLETS = ("Fars News Agency", "Tasnim", "Reuters", "Al-Monitor", "Washington Free Beacon")
PEOPLE = ("Ali Khamenei", "John Kerry", "Mohammad Javad Zarif", "Marie Harf", "Abbas Araqchi")


@dataclass
class Recorder:
    """Every request's kind, status and latency; errors kept with a short reason."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    service: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    expected_412: int = 0
    appends: int = 0
    replays: int = 0
    late: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, seconds: float, service: float) -> None:
        """One answered request: latency from its scheduled time, and from its sending."""
        with self.lock:
            self.latencies[kind].append(seconds)
            self.service[kind].append(service)
            self.statuses[f"{kind} {status}"] += 1

    def error(self, reason: str) -> None:
        """Something that must not happen (kept: the first 50 reasons)."""
        with self.lock:
            self.error_count += 1
            if len(self.errors) < 50:
                self.errors.append(reason)

    def requests(self) -> int:
        """Requests answered (or failed) so far."""
        with self.lock:
            return sum(len(v) for v in self.latencies.values())


@dataclass
class Model:
    """What the clients were told: claims, versions, acknowledged events, checkpoints."""

    claims: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    targets: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_position: dict[int, str] = field(default_factory=dict)
    checkpoint: tuple[int, bytes] | None = None
    feed_after: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, event: dict[str, Any], voids: str | None = None) -> None:
        """Remember a 201's event (and the target it voided)."""
        with self.lock:
            claim_id = event["claim_id"]
            if claim_id not in self.versions:
                self.claims.append(claim_id)
            self.versions[claim_id] = max(self.versions.get(claim_id, 0), event["version"])
            self.acked[event["id"]] = event
            self.by_position[event["position"]] = event["id"]
            if event["type"] in ("ClaimCorroborated", "ClaimDenied", "NoteAdded"):
                self.targets[claim_id].append((event["id"], event["type"]))
            if voids is not None:
                self.targets[claim_id] = [t for t in self.targets[claim_id] if t[0] != voids]

    def pick(self, rng: random.Random) -> tuple[str, int, list[tuple[str, str]]] | None:
        """A claim with its known version and correctable events (None before any claim)."""
        with self.lock:
            if not self.claims:
                return None
            claim_id = rng.choice(self.claims)
            return claim_id, self.versions[claim_id], list(self.targets[claim_id])


class Clients:
    """The operations, each a method taking a thread's HTTP clients (one per identity)."""

    def __init__(self, url: str, tokens: dict[str, str], verifier_key: str,
                 recorder: Recorder, model: Model) -> None:
        self.url, self.tokens, self.key = url, tokens, verifier_key
        self.recorder, self.model = recorder, model

    def http(self) -> dict[str, httpx.Client]:
        """A client per identity for one thread."""
        return {name: httpx.Client(base_url=self.url, timeout=30,
                                   headers={"Authorization": f"Bearer {token}"})
                for name, token in self.tokens.items()}

    def call(self, client: httpx.Client, kind: str, method: str, path: str,
             started: float | None = None, expect: tuple[int, ...] = (200,),
             **kwargs: Any) -> httpx.Response | None:
        """One request: latency from ``started`` (its scheduled time) to the full answer."""
        sent = time.monotonic()
        started = sent if started is None else started
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            now = time.monotonic()
            self.recorder.record(kind, 0, now - started, now - sent)
            self.recorder.error(f"{kind} {path}: {type(exc).__name__}: {exc}")
            return None
        now = time.monotonic()
        self.recorder.record(kind, response.status_code, now - started, now - sent)
        if response.status_code == 412 and 412 in expect:
            with self.recorder.lock:
                self.recorder.expected_412 += 1
        elif response.status_code not in expect or response.status_code >= 300:
            self.recorder.error(f"{kind} {method} {path}: {response.status_code} "
                                f"{response.text[:200]}")
            return None
        return response

    # --- editors -------------------------------------------------------------------------
    def create(self, http: dict[str, httpx.Client], rng: random.Random, started: float) -> None:
        """Record a claim."""
        body = {"statement": f"{rng.choice(PEOPLE)} said something on {uuid.uuid4().hex[:8]}.",
                "claimant": {"name": rng.choice(PEOPLE)},
                "appearance": {"outlet": rng.choice(OUTLETS)},
                "tags": [rng.choice(("iran", "isil", "nuclear", "sanctions"))]}
        editor = http[rng.choice(("editor-1", "editor-2"))]
        self._write(editor, "create claim", "/v1/claims", body, None, rng, started)

    def append(self, http: dict[str, httpx.Client], rng: random.Random, started: float) -> None:
        """Append an entry to a known claim with If-Match at the version we last saw."""
        picked = self.model.pick(rng)
        if picked is None:
            return self.create(http, rng, started)
        claim_id, version, targets = picked
        who = {"name": rng.choice(PEOPLE)}
        kind, voids = rng.choices(("corroborations", "denials", "notes", "appearances",
                                   "verdicts", "corrections"), (3, 3, 2, 1, 1, 2))[0], None
        body: dict[str, Any]
        if kind == "corrections" and targets:
            target_id, target_type = rng.choice(targets)
            if target_type == "NoteAdded":
                body = {"target_event_id": target_id, "kind": "correction",
                        "changes": {"text": "Corrected wording."}, "reason": "Typo."}
            elif rng.random() < 0.5:
                body = {"target_event_id": target_id, "kind": "void", "reason": "Misattributed."}
                voids = target_id
            else:
                body = {"target_event_id": target_id, "kind": "clarification",
                        "reason": "Said off the record."}
        elif kind in ("corroborations", "denials"):
            body = {"by": who, "note": "On the record.", "appearance": {"outlet": "Reuters"}}
        elif kind == "appearances":
            body = {"appearance": {"outlet": rng.choice(OUTLETS)}}
        elif kind == "verdicts":
            body = {"scale": "standard", "value": rng.choice(("true", "mixed", "false")),
                    "explanation": "Checked against the transcript.", "reviewer": who}
        else:
            kind, body = "notes", {"text": "Called the ministry; no answer yet."}
        self._write(http[rng.choice(("editor-1", "editor-2"))], f"append {kind}",
                    f"/v1/claims/{claim_id}/{kind}", body, version, rng, started, voids)
        return None

    def _write(self, editor: httpx.Client, kind: str, path: str, body: dict[str, Any],
               version: int | None, rng: random.Random, started: float,
               voids: str | None = None) -> None:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        response = self.call(editor, kind, "POST", path, started, (201, 412), json=body,
                             headers=headers)
        if response is None:
            return
        if response.status_code == 412:  # another editor got there first: take its version
            claim_id = path.split("/")[3]
            with self.model.lock:
                current = int(response.headers["ETag"].strip('"'))
                self.model.versions[claim_id] = max(self.model.versions[claim_id], current)
            return
        event = response.json()
        self.model.acknowledge(event, voids)
        with self.recorder.lock:
            self.recorder.appends += 1
        if rng.random() < 0.05:  # a client that lost the answer sends the same request again
            again = self.call(editor, "idempotent repeat", "POST", path, None, (201,),
                              json=body, headers=headers)
            if again is None:
                return
            if again.json()["id"] != event["id"] or again.headers.get(
                    "Idempotency-Replayed") != "true":
                self.recorder.error(f"idempotent repeat of {event['id']} wrote {again.text}")
            with self.recorder.lock:
                self.recorder.replays += 1

    # --- auditors ------------------------------------------------------------------------
    def feed(self, http: dict[str, httpx.Client], rng: random.Random, started: float) -> None:
        """The next page of the event feed; positions must follow on without a gap."""
        after = self.model.feed_after
        response = self.call(http["auditor"], "events page", "GET", "/v1/events", started,
                             params={"after": after, "limit": 100})
        if response is None:
            return
        page = response.json()
        positions = [e["position"] for e in page["items"]]
        if positions != list(range(after + 1, after + 1 + len(positions))):
            self.recorder.error(f"feed after {after} gave positions {positions[:5]}…")
        for item in page["items"]:
            acked = self.model.acked.get(item["id"])
            if acked is not None and acked["leaf_hash"] != item["leaf_hash"]:
                self.recorder.error(f"feed event {item['id']} differs from its 201")
        # start again from the beginning once caught up, so old pages are read too
        self.model.feed_after = page["next_after"] if page["items"] else 0

    def checkpoint(self, http: dict[str, httpx.Client], rng: random.Random,
                   started: float) -> None:
        """The signed checkpoint, and a consistency proof from the one seen before."""
        response = self.call(http["auditor"], "checkpoint", "GET", "/v1/log/checkpoint", started)
        if response is None:
            return
        try:
            new = cp.open_checkpoint(response.text, self.key)
        except cp.CheckpointError as exc:
            self.recorder.error(f"checkpoint does not verify: {exc}")
            return
        with self.model.lock:
            old, self.model.checkpoint = self.model.checkpoint, (new.size, new.root)
        if old is None or old[0] >= new.size:
            return
        proof = self.call(http["auditor"], "consistency proof", "GET",
                          "/v1/log/proof/consistency", params={"from": old[0], "to": new.size})
        if proof is not None and not merkle.verify_consistency(
                old[0], new.size, old[1], new.root, [bytes.fromhex(h) for h in
                                                     proof.json()["proof"]]):
            self.recorder.error(f"consistency {old[0]}→{new.size} does not verify")

    def inclusion(self, http: dict[str, httpx.Client], rng: random.Random,
                  started: float) -> None:
        """An inclusion proof of a random leaf in the last checkpoint we verified."""
        with self.model.lock:
            seen = self.model.checkpoint
        if seen is None:
            return self.checkpoint(http, rng, started)
        size, root = seen
        index = rng.randrange(size)
        response = self.call(http["auditor"], "inclusion proof", "GET",
                             "/v1/log/proof/inclusion", started,
                             params={"index": index, "size": size})
        if response is None:
            return None
        body = response.json()
        event = self.model.acked.get(self.model.by_position.get(index + 1, ""))
        if event is not None and event["leaf_hash"] != body["leaf_hash"]:
            self.recorder.error(f"leaf {index} is not the event acknowledged there")
        if bytes.fromhex(body["root"]) != root or not merkle.verify_inclusion(
                bytes.fromhex(body["leaf_hash"]), index, size,
                [bytes.fromhex(h) for h in body["proof"]], root):
            self.recorder.error(f"inclusion of leaf {index} in {size} does not verify")
        return None

    def proofs(self, http: dict[str, httpx.Client], rng: random.Random, started: float) -> None:
        """A claim's history with proofs; every event's inclusion proof is checked."""
        picked = self.model.pick(rng)
        if picked is None:
            return
        response = self.call(http["auditor"], "history proofs", "GET",
                             f"/v1/claims/{picked[0]}/history", started,
                             params={"proofs": "true"})
        if response is None:
            return
        body = response.json()
        checkpoint = cp.open_checkpoint(body["checkpoint"], self.key)
        for event in body["events"]:
            if "inclusion_proof" not in event:
                continue  # recorded after the checkpoint
            if not merkle.verify_inclusion(
                    bytes.fromhex(event["leaf_hash"]), event["leaf_index"], checkpoint.size,
                    [bytes.fromhex(h) for h in event["inclusion_proof"]], checkpoint.root):
                self.recorder.error(f"history proof of {event['id']} does not verify")

    def listing(self, http: dict[str, httpx.Client], rng: random.Random,
                started: float) -> None:
        """A page of the claim list, sometimes filtered."""
        params: dict[str, Any] = {"limit": 50}
        choice = rng.random()
        if choice < 0.3:
            params["status"] = rng.choice(("disputed", "corroborated", "denied", "unverified"))
        elif choice < 0.5:
            params["outlet"] = rng.choice(OUTLETS)
        self.call(http["auditor"], "claims list", "GET", "/v1/claims", started, params=params)

    # --- readers -------------------------------------------------------------------------
    def read(self, http: dict[str, httpx.Client], rng: random.Random, started: float) -> None:
        """A claim's current state (from the views)."""
        picked = self.model.pick(rng)
        if picked is not None:
            self.call(http["reader"], "claim", "GET", f"/v1/claims/{picked[0]}", started)

    def history(self, http: dict[str, httpx.Client], rng: random.Random,
                started: float) -> None:
        """A claim's history (from the log)."""
        picked = self.model.pick(rng)
        if picked is not None:
            self.call(http["reader"], "history", "GET", f"/v1/claims/{picked[0]}/history",
                      started)

    def operations(self) -> list[tuple[Operation, float]]:
        """Every operation with its share of the schedule."""
        shares = dict(MIX)
        return [
            (self.create, shares["editor"] * 0.15), (self.append, shares["editor"] * 0.85),
            (self.feed, shares["auditor"] * 0.3), (self.checkpoint, shares["auditor"] * 0.15),
            (self.inclusion, shares["auditor"] * 0.15), (self.proofs, shares["auditor"] * 0.2),
            (self.listing, shares["auditor"] * 0.2),
            (self.read, shares["reader"] * 0.7), (self.history, shares["reader"] * 0.3),
        ]


Operation = Callable[[dict[str, httpx.Client], random.Random, float], None]


def drive(clients: Clients, rate: float, seconds: float, threads: int, seed: int) -> float:
    """Issue operations open-loop at ``rate`` per second for ``seconds`` from ``threads``
    threads; latency counts from each operation's scheduled time. Returns the time taken."""
    rng = random.Random(seed)
    operations = clients.operations()
    work: queue.Queue[tuple[float, Operation] | None] = queue.Queue()

    ready = threading.Barrier(threads + 1)

    def client(number: int) -> None:
        http = clients.http()  # before the clock starts: making a client costs milliseconds
        local = random.Random(seed * 1000 + number)
        ready.wait()
        try:
            while (item := work.get()) is not None:
                scheduled, operation = item
                if time.monotonic() - scheduled > 1.0:
                    with clients.recorder.lock:
                        clients.recorder.late += 1
                try:
                    operation(http, local, scheduled)
                except Exception as exc:  # a bad answer's shape is an error too
                    clients.recorder.error(f"{operation.__name__}: {type(exc).__name__}: {exc}")
        finally:
            for each in http.values():
                each.close()

    pool = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    begin = time.monotonic()
    count = 0
    while (due := begin + count / rate) < begin + seconds:
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        operation = rng.choices([o for o, _ in operations], [w for _, w in operations])[0]
        work.put((due, operation))
        count += 1
    for _ in pool:
        work.put(None)
    for thread in pool:
        thread.join()
    return time.monotonic() - begin
