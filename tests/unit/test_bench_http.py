"""The HTTP bench's measuring: interleaved slices, wrk's totals, server CPU from /proc."""

from __future__ import annotations

import os
import time

from bench import http


def test_each_side_gets_every_slice_and_the_first_side_turns() -> None:
    order: list[str] = []

    def side(name: str, requests: int) -> http.Side:
        def load(seconds: int) -> http.Load:
            order.append(name)
            return http.Load(requests * seconds, float(seconds))
        return http.Side(name, load, groups=[], pids=[])

    results = http.interleaved([side("a", 10), side("b", 30), side("c", 5)], 6, slices=3)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert {name: m.rate for name, m in results.items()} == {"a": 10, "b": 30, "c": 5}
    assert results["b"].requests == 180
    assert results["b"].seconds == 6


def test_wrk_totals_are_read_in_any_unit() -> None:
    for text, requests, seconds in (
        ("  25124 requests in 15.10s, 9.31MB read", 25124, 15.10),
        ("  812 requests in 999.50ms, 1.2MB read", 812, 0.9995),
        ("  10 requests in 1.00m, 2KB read", 10, 60.0),
    ):
        match = http._DONE.search(text)
        assert match is not None
        assert int(match.group(1)) == requests
        assert float(match.group(2)) * http._UNIT[match.group(3)] == seconds


def test_cpu_seconds_counts_a_process_group_and_nothing_outside_it() -> None:
    me, group = os.getpid(), os.getpgrp()
    before = http.cpu_seconds([group], [])
    started = time.process_time()
    while time.process_time() - started < 0.2:  # burn CPU in this process
        pass
    assert http.cpu_seconds([group], []) - before >= 0.15
    assert http.cpu_seconds([], [me]) >= 0.15
    assert http.cpu_seconds([], []) == 0


def test_a_sides_cpu_is_counted_over_its_own_slices_only() -> None:
    def burn(seconds: int) -> http.Load:
        started = time.process_time()
        while time.process_time() - started < 0.1:
            pass
        return http.Load(10, float(seconds))

    me = os.getpid()
    results = http.interleaved([
        http.Side("busy", burn, groups=[], pids=[me]),
        http.Side("idle", lambda seconds: http.Load(10, float(seconds)), groups=[], pids=[me]),
    ], 3, slices=3)
    assert results["busy"].cpu["all"] >= 0.25
    assert results["idle"].cpu["all"] < 0.05
