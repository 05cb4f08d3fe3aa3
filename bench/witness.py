"""The cost of witnessing: one checkpoint cosigned by a C2SP tlog-witness.

Scenarios (milliseconds per checkpoint, median, lower is better): ``witness-cosign``
(what the worker's job does per checkpoint: a consistency proof from the store, POST to a
real ``claimledger witness serve`` on localhost, which checks the log's signature and the
proof, keeps its state in SQLite (fsync) and cosigns, then the ledger checks the
cosignature and stores it) and ``witness-decide`` (the witness's own checks and Ed25519
cosignature alone, no I/O). Each checkpoint follows a few appends, as in production.
Run: ``python -m bench.witness [--quick]`` (50 checkpoints; full: 300).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from ledger import checkpoint as cp
from ledger import cosignature, witness
from ledger.envelope import NewEvent
from ledger.events import validate_payload
from ledger.log import LogService
from ledger.store import open_store
from ledger.witnessed import parse_witnesses
from workers.witnessing import request_body, witness_latest

from .http import free_port

ORIGIN = "bench.claimledger/witnessed"
NAME = "bench.witness/w1"
CLI = [sys.executable, "-c", "from api.cli import main; main()"]


def _row(scenario: str, ours: float) -> dict[str, Any]:
    return {"scenario": scenario, "unit": "ms/checkpoint", "ours": round(ours, 2), "peer": None,
            "peer_name": None, "ratio": None}


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the witness exited")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the witness did not answer")


def measure(checkpoints: int, per_checkpoint: int = 5) -> list[dict[str, Any]]:
    """Time ``checkpoints`` cosignings over HTTP, and the witness's decision alone."""
    directory = Path(tempfile.mkdtemp(prefix="bench-witness-"))
    store = open_store(f"sqlite:///{directory / 'ledger.db'}")
    store.init()
    log_key = cp.generate_signing_key()
    service = LogService(store, log_key, ORIGIN)
    witness_key = cp.generate_signing_key()
    cp.save_signing_key(witness_key, directory / "witness.key")
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "witness", "serve", "--key", str(directory / "witness.key"), "--name", NAME,
         "--db", str(directory / "witness.db"), "--log", service.verifier_key,
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    recorded = validate_payload("ClaimRecorded", {
        "statement": "Kerry asked Zarif for Iran's cooperation against ISIL.",
        "claimant": {"name": "Ali Khamenei"},
        "appearance": {"outlet": "Fars News Agency"},
    })
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", process)
        vkey = cosignature.cosigner_key(NAME, witness_key)
        [target] = parse_witnesses(f"{vkey}@http://127.0.0.1:{port}")
        over_http: list[float] = []
        decide: list[float] = []
        followed = {ORIGIN: [cp.parse_verifier_key(service.verifier_key)]}
        seen: witness.Seen | None = None
        for _ in range(checkpoints):
            store.append([NewEvent(str(uuid.uuid4()), "ClaimRecorded", recorded)
                          for _ in range(per_checkpoint)], actor="bench")
            latest = service.issue()
            old = seen.size if seen is not None else 0
            raw = request_body(store, old, latest.size, latest.note)
            started = time.perf_counter()
            outcome = witness.decide(raw, followed, seen)
            assert isinstance(outcome, witness.Accepted)
            cosignature.cosign(outcome.body, NAME, witness_key, int(time.time()))
            decide.append(time.perf_counter() - started)
            seen = outcome.seen
            started = time.perf_counter()
            assert witness_latest(store, target) == latest.size
            over_http.append(time.perf_counter() - started)
        return [
            _row("witness-cosign", statistics.median(over_http) * 1000),
            _row("witness-decide", statistics.median(decide) * 1000),
        ]
    finally:
        process.terminate()
        process.wait(20)
        store.close()
        shutil.rmtree(directory, ignore_errors=True)


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """The harness's entry point."""
    rows = measure(50 if quick else 300)
    for row in rows:
        print(f"{row['scenario']}: {row['ours']} ms/checkpoint", flush=True)
    return rows


def main() -> None:
    """``python -m bench.witness``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, None), indent=2))


if __name__ == "__main__":
    main()
