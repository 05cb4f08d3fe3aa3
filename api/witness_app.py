"""A C2SP tlog-witness as its own small WSGI app: ``POST /add-checkpoint``, state in SQLite.

The witness has its own Ed25519 key and name, follows a fixed list of logs (origin and
verifier key), and keeps, per origin, the latest checkpoint it cosigned in a SQLite
file. Checking the old size and keeping the new checkpoint happen in one write
transaction (``BEGIN IMMEDIATE``), committed before the cosignature is sent, so two
requests racing can never roll the state back (as tlog-witness requires).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, Response, request

from ledger import checkpoint as cp
from ledger import cosignature, witness
from ledger.durable import make_directories
from ledger.timeutil import format_time, utcnow

from .responses import json_response

log = logging.getLogger("api.witness")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witness_checkpoints (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (size >= 0),
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


class WitnessState:
    """The latest cosigned checkpoint per origin, durable in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        """Open (creating) the state file at ``path``."""
        self.path = Path(path)
        make_directories(self.path.parent)  # synced: a power loss keeps the state
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def seen(self, origin: str) -> witness.Seen | None:
        """The latest checkpoint cosigned for ``origin``, if any."""
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT size, root FROM witness_checkpoints WHERE origin = ?", (origin,)
            ).fetchone()
        finally:
            conn.close()
        return None if row is None else witness.Seen(origin, int(row[0]), bytes(row[1]))

    def add(
        self, raw: bytes, logs: Mapping[str, Sequence[cp.VerifierKey]]
    ) -> witness.Accepted | witness.Refusal:
        """Decide on an ``add-checkpoint`` body and keep the new state, atomically."""
        origin = witness.origin_of(raw)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = None
            if origin is not None:
                row = conn.execute(
                    "SELECT size, root FROM witness_checkpoints WHERE origin = ?", (origin,)
                ).fetchone()
            seen = None if row is None or origin is None else witness.Seen(
                origin, int(row[0]), bytes(row[1])
            )
            outcome = witness.decide(raw, logs, seen)
            if isinstance(outcome, witness.Accepted):
                new = outcome.seen
                conn.execute(
                    "INSERT INTO witness_checkpoints (origin, size, root, note, updated_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET"
                    " size = excluded.size, root = excluded.root, note = excluded.note,"
                    " updated_at = excluded.updated_at",
                    (new.origin, new.size, new.root, outcome.body, format_time(utcnow())),
                )
            conn.execute("COMMIT")
            return outcome
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


@dataclass
class WitnessConfig:
    """Who the witness is and which logs it follows."""

    name: str
    key: Ed25519PrivateKey
    state: Path
    logs: dict[str, list[cp.VerifierKey]] = field(default_factory=dict)

    @property
    def cosigner_key(self) -> str:
        """The witness's verifier key (type 0x04), for logs and verifiers to pin."""
        return cosignature.cosigner_key(self.name, self.key)


def parse_logs(entries: Sequence[str]) -> dict[str, list[cp.VerifierKey]]:
    """``[ORIGIN=]VERIFIER_KEY`` entries by origin (the origin defaults to the key's name)."""
    logs: dict[str, list[cp.VerifierKey]] = {}
    for entry in entries:
        origin, sep, key_text = entry.strip().partition("=")
        if not sep or "+" in origin:  # no origin given: the '=' is the key's base64 padding
            origin, key_text = "", entry.strip()
        key = cp.parse_verifier_key(key_text)
        logs.setdefault(origin or key.name, []).append(key)
    return logs


def witness_config(
    key_path: str | Path, name: str, state: str | Path, logs: Sequence[str]
) -> WitnessConfig:
    """The witness's configuration: its key file, key name, state file and followed logs."""
    if not logs:
        raise cp.CheckpointError("the witness follows no log: name one with --log")
    return WitnessConfig(name, cp.load_signing_key(key_path), Path(state), parse_logs(logs))


def create_witness_app(config: WitnessConfig) -> Flask:
    """The witness's WSGI app."""
    app = Flask("witness")
    app.config["MAX_CONTENT_LENGTH"] = witness.MAX_BODY
    state = WitnessState(config.state)
    app.extensions["claimledger.witness"] = state

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        raw = request.get_data(cache=False)
        outcome = state.add(raw, config.logs)
        if isinstance(outcome, witness.Refusal):
            log.info("refused %s: %s %s", witness.origin_of(raw), outcome.status,
                     outcome.body.strip())
            return Response(outcome.body, status=outcome.status, content_type=outcome.content_type)
        line = cosignature.cosign(outcome.body, config.name, config.key, int(time.time()))
        return Response(line, content_type="text/plain; charset=utf-8")

    @app.get("/")
    def about() -> Response:
        body: dict[str, Any] = {
            "name": config.name,
            "cosigner_key": config.cosigner_key,
            "logs": sorted(config.logs),
        }
        return json_response(body)

    @app.get("/healthz")
    def health() -> Response:
        return Response("ok\n", content_type="text/plain")

    return app


def serve_app(key_path: str, name: str, state: str, logs: Sequence[str]) -> Flask:
    """The witness app (gunicorn's entry point, called with literal arguments)."""
    return create_witness_app(witness_config(key_path, name, state, logs))
