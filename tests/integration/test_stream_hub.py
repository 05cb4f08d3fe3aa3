"""Live feeds inside one process: stream positions, per-token stream slots, the stream hub.

The app runs on a real SQLite file; the slot files are real ``flock``ed files, held
across processes by a real child process.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from api import streamslots
from api.parsing import MAX_POSITION
from api.resources.stream import event_data
from api.streamhub import BATCH, MAX_BACKLOG, StreamHub, StreamRequest
from ledger.store import EventStore, open_store
from tests.support.api_harness import ApiHarness, assert_problem
from tests.support.ledger_log import note, recorded, story
from tests.support.waiting import wait_until

STREAM = "/v1/events/stream"


@pytest.fixture
def harness(tmp_path: Path) -> ApiHarness:
    """An app with public reads (the desk's live route needs no sign-in) and 2 streams a token."""
    return ApiHarness.create(tmp_path, PUBLIC_READ=True, STREAM_LIMIT=2, STREAM_MAX_SECONDS=1)


@pytest.mark.parametrize("value", [str(2**63), str(2**64 + 5), "9" * 40, "-1", "1e3", "٣"])
def test_a_stream_position_past_the_int64_range_or_not_a_number_is_a_400(
    harness: ApiHarness, value: str
) -> None:
    claim = harness.new_claim()
    problem = assert_problem(harness.get(STREAM, "auditor", **{"Last-Event-ID": value}), 400)
    assert problem["type"].endswith("malformed-position")
    assert_problem(harness.get(f"/desk/claims/{claim}/events?after={value}", None), 400)
    if value.lstrip("-").isdigit() and value.isascii():
        assert_problem(harness.get(f"{STREAM}?after={value}", "auditor"), 400)


def test_the_largest_position_is_accepted_and_streams_nothing(harness: ApiHarness) -> None:
    response = harness.client.get(
        f"{STREAM}?after={MAX_POSITION}", headers=harness.auth("auditor"), buffered=False
    )
    try:
        assert response.status_code == 200
        text = b"".join(response.response).decode()  # type: ignore[arg-type]
    finally:
        response.close()
    assert f"events after position {MAX_POSITION}" in text
    assert "data:" not in text


def test_a_token_holds_at_most_its_stream_limit_and_a_closed_stream_frees_its_slot(
    harness: ApiHarness,
) -> None:
    open_ = [
        harness.client.get(STREAM, headers=harness.auth("auditor"), buffered=False)
        for _ in range(2)
    ]
    assert [r.status_code for r in open_] == [200, 200]
    refused = harness.get(STREAM, "auditor")
    problem = assert_problem(refused, 429)
    assert problem["type"].endswith("too-many-streams")
    assert int(refused.headers["Retry-After"]) >= 1
    other = harness.client.get(STREAM, headers=harness.auth("admin"), buffered=False)
    assert other.status_code == 200, "another token has slots of its own"
    other.close()
    open_.pop().close()
    again = harness.client.get(STREAM, headers=harness.auth("auditor"), buffered=False)
    assert again.status_code == 200
    for response in (again, *open_):
        response.close()


def test_the_desk_feed_counts_against_the_same_limit_and_answers_a_problem(
    harness: ApiHarness,
) -> None:
    claim = harness.new_claim()
    path = f"/desk/claims/{claim}/events"
    held = [harness.client.get(path, buffered=False) for _ in range(2)]
    assert [r.status_code for r in held] == [200, 200]
    problem = assert_problem(harness.client.get(path), 429)
    assert problem["type"].endswith("too-many-streams")
    for response in reversed(held):  # the test client's contexts nest: close in order
        response.close()
    assert harness.client.get(path, buffered=False).status_code == 200


_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from api import streamslots
    slot = streamslots.try_acquire(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
    print("held" if slot is not None else "refused", flush=True)
    sys.stdin.read()
    """
)


def test_slots_held_by_another_process_count_and_are_freed_when_it_dies(tmp_path: Path) -> None:
    key = streamslots.principal_key("token-1", None)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _HOLDER, key, "2", str(tmp_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    try:
        assert [c.stdout.readline().strip() for c in children if c.stdout] == ["held", "held"]
        assert streamslots.try_acquire(key, 2, tmp_path) is None
        assert streamslots.held(key, 2, tmp_path) == 2
        children[0].kill()
        children[0].wait(10)
        slot = streamslots.try_acquire(key, 2, tmp_path)
        assert slot is not None, "a dead process's slot is free at once"
        assert streamslots.held(key, 2, tmp_path) == 2
        slot.release()
        slot.release()  # idempotent
        assert streamslots.held(key, 2, tmp_path) == 1
    finally:
        for child in children:
            child.kill()
            child.wait(10)


# --- the hub itself: a real StreamHub, a real SQLite store, socketpairs as clients ----------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    """A fresh SQLite event store."""
    opened = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    opened.init()
    yield opened
    opened.close()


@pytest.fixture
def hub(store: EventStore) -> Iterator[StreamHub]:
    """A running hub on the store."""
    running = StreamHub(store, event_data)
    yield running
    running.stop()


class Client:
    """The far end of a subscriber's socket, reading SSE frames as they come."""

    def __init__(self, hub: StreamHub, tmp_path: Path, after: int,
                 claim_id: str | None = None, key: str = "token:t") -> None:
        near, self.sock = socket.socketpair()
        self.sock.settimeout(10)
        slot = streamslots.try_acquire(key, 1000, tmp_path)
        assert slot is not None
        self.slot = slot
        self.buffer = b""
        hub.add(near, b"HEAD\r\n\r\n", StreamRequest(after, claim_id, slot, 300, 300, b""))

    def ids_and_data(self, count: int) -> list[tuple[int, str | None]]:
        """Read until ``count`` messages with an ``id:`` arrived; (id, data) of each."""
        found: list[tuple[int, str | None]] = []
        while True:
            found = [
                (int(match[0]), match[2].decode() if match[1] else None)
                for match in re.findall(rb"id: (\d+)\n(data: (.*)\n)?\n", self.buffer)
            ]
            if len(found) >= count:
                return found
            chunk = self.sock.recv(65536)
            assert chunk, f"the hub hung up after {found}"
            self.buffer += chunk


def test_feeds_at_one_position_share_one_log_read_per_batch_and_get_every_event_in_order(
    hub: StreamHub, store: EventStore, tmp_path: Path
) -> None:
    claims = story(2)
    store.append([recorded(c) for c in claims], actor="test")
    clients = [Client(hub, tmp_path, store.head()) for _ in range(20)]
    wait_until(lambda: hub.count() == 20, 10, "the hub to take all feeds")
    passes, reads = hub.stats
    written = []
    for n in range(30):
        written += store.append([note(claims[n % 2], f"note {n}")], actor="test")
        hub.poke()
    expected = [e.position for e in written]
    for client in clients:
        got = client.ids_and_data(30)
        assert [position for position, _ in got] == expected
        assert all(data is not None for _, data in got)
    passes_now, reads_now = hub.stats
    assert reads_now - reads == passes_now - passes, "one read per pass, not one per feed"


def test_a_claim_filter_sends_that_claims_events_and_moves_the_id_past_the_rest(
    hub: StreamHub, store: EventStore, tmp_path: Path
) -> None:
    mine, other = story(2)
    start = store.head()
    events = store.append([recorded(mine), recorded(other)], actor="test")
    client = Client(hub, tmp_path, start, claim_id=mine)
    got = client.ids_and_data(2)
    assert got[0][0] == events[0].position
    assert got[0][1] is not None
    assert got[1] == (events[1].position, None), "a bare id: moves Last-Event-ID"


def test_a_client_that_hangs_up_is_dropped_and_its_slot_freed_at_once(
    hub: StreamHub, store: EventStore, tmp_path: Path
) -> None:
    client = Client(hub, tmp_path, store.head())
    wait_until(lambda: hub.count() == 1, 10, "the hub to take the feed")
    assert client.slot.held
    client.sock.close()  # heartbeats are 300 s apart: only the hang-up itself can free it
    wait_until(lambda: not client.slot.held and hub.count() == 0, 10, "the slot to be freed")


def test_a_reader_that_does_not_read_is_buffered_within_bounds_and_catches_up_from_the_log(
    hub: StreamHub, store: EventStore, tmp_path: Path
) -> None:
    [claim] = story(1)
    start = store.head()
    store.append([recorded(claim)], actor="test")
    slow = Client(hub, tmp_path, start)
    big = "x" * 4000
    written = store.append([note(claim, f"{n} {big}") for n in range(600)], actor="test")
    hub.poke()
    # 2.4 MB of events: beyond the socket buffers, the hub stops reading for this feed
    [(cursor, backlog)] = wait_until(
        lambda: [b for b in hub.backlogs() if b[1] >= MAX_BACKLOG], 10, "a full backlog"
    )
    assert backlog < MAX_BACKLOG + BATCH * 5000, "at most one batch beyond the bound"
    assert cursor < written[-1].position
    got = slow.ids_and_data(601)
    assert [p for p, _ in got] == list(range(start + 1, written[-1].position + 1))
