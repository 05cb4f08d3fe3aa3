"""Live feeds inside one process: stream positions, per-token stream slots, the stream hub.

The app runs on a real SQLite file; the slot files are real ``flock``ed files, held
across processes by a real child process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from api import streamslots
from api.parsing import MAX_POSITION
from tests.integration.test_api_support import ApiHarness, assert_problem

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
