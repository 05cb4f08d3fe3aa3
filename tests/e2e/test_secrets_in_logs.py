"""A whole real session — server, worker, Redis with a password, the database URL with a
password — then every log file and every response body is searched for every token
issued and for both passwords: none may appear anywhere."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.api_harness import CLAIM, DENIAL
from tests.support.redis_server import RedisServer
from tests.support.server import Server, cli, create_token, start_server
from tests.support.waiting import wait_until
from tests.support.workers import FAST, WorkerProcess

REDIS_PASSWORD = "redis-pw-" + secrets.token_hex(8)
DB_PASSWORD = "db-pw-" + secrets.token_hex(8)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database (password in the URL; trust auth ignores it), else SQLite."""
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}"
        return
    name = "secrets_" + secrets.token_hex(6)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # a fixed-shape name of hex digits
    scheme, _, rest = base.partition("://")
    user_host, _, _ = rest.partition("/")
    user, _, host = user_host.rpartition("@")
    yield f"{scheme}://{user or 'postgres'}:{DB_PASSWORD}@{host}/{name}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def exercise(server: Server, bodies: list[str]) -> list[str]:
    """Use every role's token, a revoked one, and provoke errors; returns the tokens used."""
    extra = create_token(server.env, "soon-revoked", "editor")
    tokens = [*server.tokens.values(), extra]
    with server.client("editor") as editor:
        made = editor.post("/v1/claims", json=CLAIM)
        claim = made.json()["claim_id"]
        for response in (
            made,
            editor.post(f"/v1/claims/{claim}/denials", json=DENIAL),
            editor.post(f"/v1/claims/{claim}/denials", json={"by": "x"}),
            editor.post("/v1/claims", content=b"{", headers={"Content-Type": "application/json"}),
            editor.get("/v1/claims/not-a-uuid"),
            editor.get(f"/v1/claims/{claim}?min_position=999999"),
            editor.get("/v1/tokens"),
        ):
            bodies.append(response.text)
    for role in server.tokens:
        with server.client(role) as client:
            for path in ("/v1/claims", "/v1/events", "/v1/tokens", "/v1/tokens/log",
                         "/v1/projections", "/readyz", "/metrics"):
                bodies.append(client.get(path).text)
    listed = cli(server.env, "tokens", "list").stdout
    token_id = next(line.split()[0] for line in listed.splitlines() if " soon-revoked " in line)
    cli(server.env, "tokens", "revoke", token_id)
    for token in (extra, extra + "x", extra.upper()):
        answer = httpx.get(f"{server.url}/v1/claims",
                           headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        bodies.append(answer.text)
    return tokens


def test_no_token_or_password_reaches_a_log_or_an_answer(
    tmp_path: Path, database_url: str
) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        admin = redis.client()
        admin.config_set("requirepass", REDIS_PASSWORD)
        admin.close()
        redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis.port}/0"
        server = start_server(
            tmp_path / "ledger", 1, LEDGER_REDIS_URL=redis_url,
            LEDGER_DATABASE_URL=database_url, LEDGER_LOG_LEVEL="DEBUG", FLASK_DEBUG="1", **FAST,
        )
        worker = WorkerProcess(server.env, tmp_path / "worker.log")
        bodies: list[str] = []
        try:
            worker.start()
            with server.client("reader") as reader:
                wait_until(lambda: reader.get("/v1/claims").status_code == 200, 120, "the views")
            tokens = exercise(server, bodies)
        finally:
            worker.stop()
            server.stop()
            authed = redis.client(password=REDIS_PASSWORD)
            authed.config_set("requirepass", "")  # so the fixture can stop it as usual
            authed.close()
    logs = {p: p.read_text(encoding="utf-8", errors="replace")
            for p in tmp_path.rglob("*.log")}
    assert len(logs) >= 3, sorted(logs)  # serve.log, worker.log, redis.log
    assert any('"claimledger.request"' in text for text in logs.values())
    secrets_ = [*tokens, REDIS_PASSWORD, DB_PASSWORD]
    for where, text in [*((str(p), t) for p, t in logs.items()),
                        *((f"answer {i}", b) for i, b in enumerate(bodies))]:
        for secret in secrets_:
            assert secret not in text, f"a secret ({secret[:6]}…) leaked into {where}"
            assert secret[4:] not in text, f"part of a secret leaked into {where}"
        assert "Traceback" not in text or where.endswith(("worker.log", "redis.log")), where
