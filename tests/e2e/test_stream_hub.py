"""Live feeds that cost no request capacity, against a real ``claimledger serve``.

With two workers (as shipped) and 24 feeds open — 16 API streams and 8 desk claim
pages — a write is still answered and every feed receives it exactly once, in order;
with sync workers (the default) and with gthread workers (``scripts/run``). A client that
hangs up frees its slot of ``LEDGER_STREAM_LIMIT`` at once, not at the next heartbeat.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.e2e.test_stream import STREAM, messages
from tests.support.api_harness import CLAIM, DENIAL
from tests.support.server import Server, start_server
from tests.support.waiting import wait_until

_LIVE = re.compile(r"^ledger_live_streams (\S+)$", re.MULTILINE)


class Feed(threading.Thread):
    """One subscriber reading a feed on its own connection until it has ``expect`` events."""

    def __init__(self, server: Server, path: str, token: str | None, after: int,
                 expect: int) -> None:
        super().__init__(daemon=True)
        self.server, self.path, self.token, self.after, self.expect = (
            server, path, token, after, expect)
        self.opened = threading.Event()
        self.status: int | None = None
        self.positions: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with httpx.Client(base_url=self.server.url, timeout=60) as client, \
                    client.stream("GET", self.path, params={"after": self.after},
                                  headers=headers) as response:
                self.status = response.status_code
                self.opened.set()
                if response.status_code != 200:
                    return
                for message in messages(response):
                    if message.data is not None:
                        self.positions.append(int(message.id or 0))
                    if len(self.positions) >= self.expect:
                        return  # and hang up
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.opened.set()


def live_streams(server: Server) -> float:
    """The ``ledger_live_streams`` gauge from /metrics."""
    found = _LIVE.search(httpx.get(f"{server.url}/metrics", timeout=10).text)
    return float(found.group(1)) if found else -1.0


#: public desk reads; streams live long and are silent when idle
QUIET = {"LEDGER_PUBLIC_READ": "1", "LEDGER_STREAM_MAX_SECONDS": "300",
         "LEDGER_STREAM_HEARTBEAT_SECONDS": "300"}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``claimledger serve`` as shipped: two sync workers, the default stream limit (8)."""
    server = start_server(tmp_path_factory.mktemp("hub"), 2, threads=1, **QUIET)
    yield server
    server.stop()


def test_with_24_feeds_open_writes_are_answered_and_every_feed_gets_every_event_once(
    shipped: Server,
) -> None:
    feeds_and_writes(shipped)


def test_with_gthread_workers_too(server_factory: Callable[..., Server]) -> None:
    start: Callable[..., Server] = server_factory
    feeds_and_writes(start(2, threads=4, **QUIET))


def feeds_and_writes(server: Server) -> None:
    """16 API feeds (two tokens, 8 each) and 8 desk feeds open; 5 writes; all delivered."""
    wait_until(lambda: live_streams(server) == 0, 30, "no feeds open")
    writes = 5
    with server.client("editor") as editor:
        recorded = editor.post("/v1/claims", json=CLAIM)
        assert recorded.status_code == 201
        claim_id, start = recorded.json()["claim_id"], recorded.json()["position"]
        feeds = [
            *(Feed(server, STREAM, server.tokens[role], start, writes)
              for role in ("auditor", "admin") for _ in range(8)),
            *(Feed(server, f"/desk/claims/{claim_id}/events", None, start, writes)
              for _ in range(8)),
        ]
        for feed in feeds:
            feed.start()
        for feed in feeds:
            assert feed.opened.wait(60), "every feed is answered"
        assert [f.status for f in feeds] == [200] * 24
        wait_until(lambda: live_streams(server) == 24, 30, "the gauge to count 24 feeds")
        positions = []
        for _ in range(writes):
            answer = editor.post(f"/v1/claims/{claim_id}/denials", json=DENIAL)
            assert answer.status_code == 201, answer.text
            positions.append(answer.json()["position"])
        assert editor.get("/healthz").status_code == 200
    for feed in feeds:
        feed.join(60)
        assert not feed.is_alive(), f"a feed got only {feed.positions}"
    assert [f.error for f in feeds] == [None] * 24
    assert all(f.positions == positions for f in feeds), "each event once, in order"


def test_a_feed_past_the_limit_is_refused_and_a_hang_up_frees_its_slot_at_once(
    shipped: Server,
) -> None:
    server = shipped
    wait_until(lambda: live_streams(server) == 0, 30, "no feeds open")
    auth = {"Authorization": f"Bearer {server.tokens['auditor']}"}

    def open_feed(stack: ExitStack) -> int:
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=10))
        response = stack.enter_context(client.stream("GET", STREAM, headers=auth))
        return response.status_code

    with ExitStack() as first, ExitStack() as others:
        assert open_feed(first) == 200
        assert [open_feed(others) for _ in range(7)] == [200] * 7
        with server.client("auditor") as auditor:
            refused = auditor.get(STREAM)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("too-many-streams")
        assert int(refused.headers["Retry-After"]) >= 1
        assert live_streams(server) == 8
        # hang up: with heartbeats 300 s apart, only noticing the hang-up frees the slot
        first.close()

        def reopened() -> bool:
            with ExitStack() as third:
                return open_feed(third) == 200

        wait_until(reopened, 30, "the hung-up feed's slot to be free")
        wait_until(lambda: live_streams(server) == 7, 30, "the gauge to count the open feeds")
