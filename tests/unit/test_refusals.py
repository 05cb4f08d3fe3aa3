"""Telling a lost Redis connection from a refusal, and the backoff's delays and log lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    MovedError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workers.refusals import ADVICE, Backoff, describe, refusal


@pytest.mark.parametrize(("error", "kind"), [
    (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "out_of_memory"),
    (ResponseError("OOM command not allowed"), "out_of_memory"),
    (ReadOnlyError("You can't write against a read only replica."), "read_only"),
    (ResponseError("MOVED 3999 127.0.0.1:7001"), "cluster"),
    (MovedError("3999 127.0.0.1:7001"), "cluster"),
    (ResponseError("CROSSSLOT Keys in request don't hash to the same slot"), "cluster"),
    (ResponseError("CLUSTERDOWN The cluster is down"), "cluster"),
    (NoPermissionError("this user has no permissions to run the 'set' command"),
     "no_permission"),
    (AuthenticationError("invalid username-password pair"), "auth"),
    (ResponseError("WRONGPASS invalid username-password pair"), "auth"),
    (ResponseError("MISCONF Redis is configured to save RDB snapshots"), "misconfigured"),
    (ResponseError("ERR unknown command"), "refused"),
    (RedisConnectionError("Error 111 connecting to 127.0.0.1:6379"), None),
    (RedisTimeoutError("Timeout reading from socket"), None),
    (BusyLoadingError("Redis is loading the dataset in memory"), None),
    (ConnectionRefusedError(111, "refused"), None),
])
def test_only_a_lost_connection_is_not_a_refusal(error: BaseException, kind: str | None) -> None:
    assert refusal(error) == kind
    if kind is not None:
        line = describe(kind, error)
        assert line.startswith(ADVICE[kind])
        assert str(error) in line


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@given(st.lists(st.tuples(st.sampled_from(["out_of_memory", "read_only"]),
                          st.floats(min_value=0.0, max_value=100.0)), min_size=1, max_size=60),
       st.floats(min_value=0.1, max_value=5.0), st.floats(min_value=1.0, max_value=120.0))
def test_delays_grow_to_the_cap_and_the_reason_is_said_at_most_once_a_minute(
    refusals: list[tuple[str, float]], base: float, cap: float
) -> None:
    clock = Clock()
    backoff = Backoff(base=base, cap=cap, clock=clock)
    delays, said, last_kind = [], [], None
    for kind, pause in refusals:
        delay, loud = backoff.failed(kind)
        assert 0 < delay <= max(cap, base) or delay == cap
        if loud:
            assert not said or kind != last_kind or clock.now - said[-1] >= 60.0
            said.append(clock.now)
        else:  # silent only when the same kind was said less than a minute ago
            assert kind == last_kind
            assert clock.now - said[-1] < 60.0
        last_kind = kind
        delays.append(delay)
        clock.now += pause
    assert said[0] == 1000.0  # the first refusal is always said
    assert delays == sorted(delays)  # never shorter while it lasts
    assert delays[-1] == min(cap, base * 2 ** (len(delays) - 1))


def test_after_success_the_delays_start_again_but_the_line_is_not_repeated_within_a_minute(
) -> None:
    clock = Clock()
    backoff = Backoff(base=1.0, cap=8.0, clock=clock)
    assert [backoff.failed("out_of_memory")[0] for _ in range(5)] == [1, 2, 4, 8, 8]
    clock.now += 10
    assert backoff.succeeded() == 10
    assert backoff.succeeded() is None
    assert backoff.failed("out_of_memory") == (1, False)  # said 10 s ago
    clock.now += 60
    assert backoff.failed("out_of_memory") == (2, True)
    assert backoff.failed("read_only") == (4, True)  # another reason is said at once
