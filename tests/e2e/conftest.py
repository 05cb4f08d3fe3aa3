"""End-to-end fixtures: a real ``claimledger serve`` with Redis and a worker shared by the
session, a claim recorded on it, and servers a test starts with its own settings (the
helpers behind them are in ``tests/support/server.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.api_harness import CLAIM
from tests.support.server import Server, serving_with_views, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One API server with Redis and a worker for the whole session (tests must not depend
    on its log being empty)."""
    with serving_with_views(tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def claim(server: Server) -> str:
    """The id of a claim recorded on the shared server for this module's tests."""
    with server.client("editor") as client:
        claim_id: str = client.post("/v1/claims", json=CLAIM).json()["claim_id"]
    return claim_id


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers with their own settings; all are stopped when the test ends."""
    started: list[Server] = []

    def start(workers: int = 2, **env_extra: str) -> Server:
        running = start_server(tmp_path / f"serve-{len(started)}", workers, **env_extra)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
