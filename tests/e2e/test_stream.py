"""The live feed against a real ``claimledger serve`` and a real redis-server.

A subscriber that disconnects and resumes with ``Last-Event-ID`` gets every event
exactly once, while writers append through another gunicorn worker; Redis is only the
wake-up, so the feed keeps working (by polling the log) when Redis is down.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.api_harness import CLAIM, DENIAL, body
from tests.support.net import free_port
from tests.support.redis_server import RedisServer
from tests.support.server import Server, start_server
from tests.support.waiting import wait_until

STREAM = "/v1/events/stream"


@dataclass
class Message:
    """One SSE message: its ``id:`` and ``data:`` (either may be None), and its comments."""

    id: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)


def messages(response: httpx.Response) -> Iterator[Message]:
    """Parse a ``text/event-stream`` body into messages as they arrive."""
    current = Message()
    for line in response.iter_lines():
        if line == "":
            if current.id is not None or current.data is not None or current.comments:
                yield current
            current = Message()
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                current.id = value
            elif name == "data":
                current.data = value if current.data is None else current.data + "\n" + value
    if current.id is not None or current.data is not None or current.comments:
        yield current


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, redis: RedisServer) -> Iterator[Server]:
    """One server for the module: three workers, Redis, short-lived streams, fast heartbeats."""
    server = start_server(
        tmp_path_factory.mktemp("stream"), workers=3, LEDGER_REDIS_URL=redis.url,
        LEDGER_STREAM_MAX_SECONDS="5", LEDGER_STREAM_HEARTBEAT_SECONDS="1",
    )
    yield server
    server.stop()


def append_story(server: Server, count: int) -> list[int]:
    """Append ``count`` events (claims and denials); their positions."""
    positions: list[int] = []
    with server.client("editor") as client:
        claim_id = None
        for n in range(count):
            if n % 4 == 0:
                response = client.post("/v1/claims", json=body(CLAIM, statement=f"Claim {n}."))
                claim_id = response.json()["claim_id"]
            else:
                response = client.post(f"/v1/claims/{claim_id}/denials", json=DENIAL)
            assert response.status_code == 201, response.text
            positions.append(response.json()["position"])
    return positions


def test_a_resuming_subscriber_gets_every_event_exactly_once(live_server: Server) -> None:
    total = 40
    written: list[int] = []
    start = live_server.head()
    writer = threading.Thread(target=lambda: written.extend(append_story(live_server, total)))
    last_id: str | None = str(start)
    received: list[dict[str, Any]] = []
    reconnects = 0
    deadline = time.monotonic() + 90
    writer.start()
    try:
        with live_server.client("auditor") as client:
            while len(received) < total:
                assert time.monotonic() < deadline, f"only {len(received)} of {total} arrived"
                headers = {"Last-Event-ID": last_id}
                taken = 0
                with client.stream("GET", STREAM, headers=headers) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/event-stream")
                    for message in messages(response):
                        if message.data is None:
                            continue
                        event = json.loads(message.data)
                        assert message.id == str(event["position"])
                        received.append(event)
                        last_id = message.id
                        taken += 1
                        if taken == 7 or len(received) == total:
                            break  # hang up mid-stream, then resume
                reconnects += 1
    finally:
        writer.join(60)
    positions = [e["position"] for e in received]
    assert positions == list(range(start + 1, start + total + 1)), "every event once, in order"
    assert sorted(written) == positions
    assert reconnects >= total // 7
    store = live_server.store()
    try:
        stored = {e.position: e.to_json() for e in store.read_all(start, 1000)}
    finally:
        store.close()
    assert all(stored[e["position"]] == e for e in received)


def test_appends_are_announced_on_redis_and_wake_a_stream_in_another_worker(
    live_server: Server, redis: RedisServer
) -> None:
    listener = redis.client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe("claimledger:appended")
    start = live_server.head()
    with live_server.client("auditor") as client, \
            client.stream("GET", STREAM, params={"after": start}) as response:
        stream = messages(response)
        first = next(stream)
        assert first.comments
        assert first.data is None
        [position] = append_story(live_server, 1)

        def announced_head() -> int | None:
            # an earlier test's append may be announced late (announcements are paced)
            message = listener.get_message(timeout=0.2)
            head = int(message["data"]) if message else 0
            return head if head >= position else None

        assert wait_until(announced_head, 10, "this append's announcement") == position
        began = time.monotonic()
        event = next(m for m in stream if m.data is not None)
        assert int(event.id or 0) == position
        # a wake-up, not the one-second poll of a stream that cannot reach Redis
        assert time.monotonic() - began < 5
    listener.close()


def test_idle_streams_send_heartbeats_and_end_by_themselves(live_server: Server) -> None:
    began = time.monotonic()
    with live_server.client("auditor") as client, \
            client.stream("GET", STREAM, params={"after": live_server.head()}) as response:
        seen = list(messages(response))
    elapsed = time.monotonic() - began
    comments = [c for m in seen for c in m.comments]
    assert "heartbeat" in comments
    assert any("reconnect with Last-Event-ID" in c for c in comments)
    assert not [m for m in seen if m.data is not None]
    assert 4 <= elapsed < 15, elapsed


def test_a_claim_filter_sends_only_that_claim_but_moves_the_last_event_id(
    live_server: Server,
) -> None:
    positions = append_story(live_server, 8)  # two claims of four events each
    with live_server.client("auditor") as client:
        first_claim = client.get("/v1/events", params={"after": positions[0] - 1, "limit": 1})
        claim_id = first_claim.json()["items"][0]["claim_id"]
        with client.stream("GET", STREAM, params={"after": positions[0] - 1, "claim_id": claim_id},
                           timeout=httpx.Timeout(10, read=10)) as response:
            seen: list[Message] = []
            for message in messages(response):
                seen.append(message)
                if message.id == str(positions[-1]):
                    break
    data = [json.loads(m.data) for m in seen if m.data is not None]
    assert [e["position"] for e in data] == positions[:4]
    assert {e["claim_id"] for e in data} == {claim_id}
    assert seen[-1].data is None
    assert seen[-1].id == str(positions[-1])


def test_the_stream_needs_the_auditor_role_and_a_valid_last_event_id(live_server: Server) -> None:
    with live_server.client(None) as anonymous:
        assert anonymous.get(STREAM).status_code == 401
    with live_server.client("editor") as editor:
        assert editor.get(STREAM).status_code == 403
    with live_server.client("auditor") as auditor:
        response = auditor.get(STREAM, headers={"Last-Event-ID": "seven"})
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert auditor.get(STREAM, params={"after": -1}).status_code == 400
        assert auditor.get(STREAM, params={"after": 2**63}).status_code == 400


def test_without_redis_appends_succeed_and_streams_poll_the_log(
    server_factory: Callable[..., Server],
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    server = server_factory(workers=2, LEDGER_REDIS_URL=dead_redis,
                            LEDGER_STREAM_MAX_SECONDS="5", LEDGER_STREAM_HEARTBEAT_SECONDS="1")
    with server.client("auditor") as client, \
            client.stream("GET", STREAM) as response:
        stream = messages(response)
        next(stream)
        began = time.monotonic()
        positions = append_story(server, 3)
        assert time.monotonic() - began < 5, "a dead Redis must not slow appends down"
        got: list[int] = []
        for message in stream:
            if message.data is not None:
                got.append(int(message.id or 0))
            if len(got) == len(positions):
                break
    assert got == positions
