"""Witnesses end to end: a real ``claimledger witness serve``, a ledger with Redis and a real
worker sending it checkpoints, ``claimledger verify --witness``, a witness that goes down,
and a forked log signed with the same key."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from werkzeug.serving import BaseWSGIServer, make_server

from api import cli as cli_module
from api import create_app
from api.witness_app import WitnessState
from ledger import checkpoint as cp
from ledger import cosignature
from ledger.log import LogService
from ledger.store import open_store
from ledger.witnessed import parse_witnesses, quorum
from tests.support.api_harness import CLAIM, DENIAL
from tests.support.ledger_log import grow, story
from tests.support.net import free_port
from tests.support.redis_server import RedisServer
from tests.support.server import CLI, Server, cli, start_server
from tests.support.waiting import wait_until
from tests.support.workers import FAST, WorkerProcess
from workers.witnessing import WitnessingError, witness_latest

ORIGIN = "claimledger.local/log"  # the default origin
WITNESS_NAME = "witness.test/w1"


@dataclass
class Witness:
    """A ``claimledger witness serve`` process, stoppable and restartable on one state file."""

    directory: Path
    port: int
    log_key: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return ["--key", str(self.directory / "witness.key"), "--name", WITNESS_NAME]

    def key(self) -> str:
        return cli(dict(os.environ), "witness", "key", *self.args()).stdout.strip()

    def start(self) -> Witness:
        with (self.directory / "witness.log").open("ab") as out:
            self.process = subprocess.Popen(
                [*CLI, "witness", "serve", *self.args(), "--db", str(self.state_path),
                 "--log", self.log_key, "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError((self.directory / "witness.log").read_text())
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 60, "the witness to answer")
        return self

    @property
    def state_path(self) -> Path:
        return self.directory / "witness.db"

    def seen(self) -> int:
        seen = WitnessState(self.state_path).seen(ORIGIN)
        return 0 if seen is None else seen.size

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)


@dataclass
class Setup:
    server: Server
    witness: Witness
    witness_key: str
    log_key: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("witnessed")
    (directory / "ledger").mkdir()
    signing = cp.load_or_create_signing_key(directory / "ledger" / "signing.key")
    log_key = cp.verifier_key(ORIGIN, signing.public_key())
    (directory / "witness").mkdir()
    witness = Witness(directory / "witness", free_port(), log_key)
    witness_key = witness.key()
    witness.start()
    try:
        with RedisServer(directory / "redis") as redis:
            server = start_server(
                directory / "ledger", 2, LEDGER_REDIS_URL=redis.url, **FAST,
                LEDGER_WITNESSES=f"{witness_key}@{witness.url}", LEDGER_CHECKPOINT_INTERVAL="0",
            )
            worker = WorkerProcess(server.env, directory / "worker.log").start()
            try:
                yield Setup(server, witness, witness_key, log_key)
            finally:
                worker.stop()
                server.stop()
    finally:
        witness.stop()


def append(server: Server, count: int) -> None:
    with server.client("editor") as editor:
        claim = editor.post("/v1/claims", json=CLAIM)
        assert claim.status_code == 201
        for _ in range(count - 1):
            response = editor.post(f"/v1/claims/{claim.json()['claim_id']}/denials", json=DENIAL)
            assert response.status_code == 201


def cosigned_size(setup: Setup) -> int:
    """The size of the served checkpoint if the witness cosigned it, else 0."""
    with setup.server.client("auditor") as auditor:
        note = auditor.get("/v1/log/checkpoint").text
    key = cosignature.parse_cosigner_key(setup.witness_key)
    if not quorum(note, [key], 1).ok:
        return 0
    return cp.open_checkpoint(note, setup.log_key).size


def verify(url: str, log_key: str, token: str | None, *witness_keys: str) -> Result:
    """``claimledger verify`` (in process: the CLI's code, without a new interpreter)."""
    cli_module._register()
    flags = [arg for key in witness_keys for arg in ("--witness", key)]
    flags += ["--token", token] if token else []
    return CliRunner().invoke(cli_module.cli, ["verify", "--url", url, "--key", log_key, *flags])


def test_each_new_checkpoint_is_cosigned_and_verify_requires_the_witness(setup: Setup) -> None:
    append(setup.server, 3)
    head = setup.server.head()
    wait_until(lambda: cosigned_size(setup) == head, 60, "the witness's cosignature")
    with setup.server.client() as anonymous:
        tlog = anonymous.get("/tlog/checkpoint", headers={
            "Authorization": f"Bearer {setup.server.tokens['auditor']}"}).text
    assert cosignature.parse_cosigner_key(setup.witness_key).name in tlog
    token = setup.server.tokens["auditor"]
    passed = verify(setup.server.url, setup.log_key, token, setup.witness_key)
    assert passed.exit_code == 0, passed.output + passed.stderr
    assert "witnesses: 1 of the required 1 witnesses cosigned" in passed.output
    stranger = cosignature.cosigner_key("witness.test/w2", cp.generate_signing_key())
    refused = verify(setup.server.url, setup.log_key, token, setup.witness_key, stranger)
    assert refused.exit_code != 0
    assert "not witnessed: 1 of the required 2" in refused.stderr


def test_a_witness_that_is_down_delays_cosigning_but_never_an_append(setup: Setup) -> None:
    append(setup.server, 1)
    wait_until(lambda: cosigned_size(setup) == setup.server.head(), 60, "a cosignature")
    before = setup.witness.seen()
    setup.witness.stop()
    append(setup.server, 4)  # every append answered 201 (checked inside) with the witness down
    head = setup.server.head()
    assert cosigned_size(setup) < head
    setup.witness.start()  # the same state file: it still knows the size it cosigned
    assert setup.witness.seen() == before
    wait_until(lambda: cosigned_size(setup) == head, 90, "the retried job to cosign")
    assert setup.witness.seen() == head


def test_a_forked_log_signed_with_the_same_key_is_refused_and_verify_rejects_it(
    setup: Setup, tmp_path: Path
) -> None:
    append(setup.server, 2)
    wait_until(lambda: cosigned_size(setup) == setup.server.head(), 60, "a cosignature")
    seen = setup.witness.seen()
    key_path = Path(setup.server.env["LEDGER_DATA_DIR"]) / "signing.key"
    fork = open_store(f"sqlite:///{tmp_path / 'fork.db'}")  # another history, same key
    fork.init()
    grow([fork], seen + 5, story(3))
    LogService(fork, cp.load_signing_key(key_path), ORIGIN).issue()
    [target] = parse_witnesses(f"{setup.witness_key}@{setup.witness.url}")
    with pytest.raises(WitnessingError, match="422"):
        witness_latest(fork, target)  # old 0 -> 409 with the honest size -> a proof that fails
    assert fork.cosignatures_at(fork.head()) == []
    assert setup.witness.seen() == seen  # the witness kept the honest log's size
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'fork.db'}", "PUBLIC_READ": True,
                      "SIGNING_KEY": key_path, "LOG_ORIGIN": ORIGIN, "RATE_LIMIT": None})
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        rejected = verify(url, setup.log_key, None, setup.witness_key)
        assert rejected.exit_code != 0
        assert "not witnessed" in rejected.stderr
        plain = verify(url, setup.log_key, None)
        assert plain.exit_code == 0, plain.stderr  # the log's key alone cannot tell
    finally:
        server.shutdown()
        thread.join(timeout=10)
        fork.close()
