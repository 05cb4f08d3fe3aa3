"""The soak's figures: latency percentiles per request kind, memory per process with its
trend, and the Markdown summary."""

from __future__ import annotations

import math
import os
from typing import Any

#: runs shorter than this (minutes) report memory but do not judge its trend
MIN_MINUTES_FOR_TREND = 2.0


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y) points (0 for fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def latency_rows(latencies: dict[str, list[float]],
                 service: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Per request kind (and all together): count, p50/p95/p99/max latency from the
    scheduled time (ms), and p50/p99 of the service time from sending (ms)."""
    rows = []
    every = [v for values in latencies.values() for v in values]
    every_service = [v for values in service.values() for v in values]
    for kind, values, sent in [*((k, latencies[k], service[k]) for k in sorted(latencies)),
                               ("all", every, every_service)]:
        if not values:
            continue
        rows.append({"kind": kind, "count": len(values),
                     **{f"p{q}_ms": round(percentile(values, q) * 1000, 1) for q in (50, 95, 99)},
                     "max_ms": round(max(values) * 1000, 1),
                     "service_p50_ms": round(percentile(sent, 50) * 1000, 1),
                     "service_p99_ms": round(percentile(sent, 99) * 1000, 1)})
    return rows


def memory_rows(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per process: start, end and max RSS (MB) and the slope (MB/min) over the second half.

    A process that ran from the first sample to the last is ``long-lived``; the others
    (RQ's work-horses, one per job) make one row per role: how many, their mean RSS at the
    first and last sample of each, and the largest.
    """
    if not samples:
        return []
    first, last = samples[0]["t"], samples[-1]["t"]
    half = first + (last - first) / 2
    series: dict[int, dict[str, Any]] = {}
    for sample in samples:
        for proc in sample["processes"]:
            entry = series.setdefault(proc["pid"], {"role": proc["role"], "points": []})
            entry["points"].append((sample["t"], proc["rss_mb"]))
    rows = []
    transient: dict[str, list[list[tuple[float, float]]]] = {}
    for pid, entry in sorted(series.items(), key=lambda item: (item[1]["role"], item[0])):
        points = entry["points"]
        if not (points[0][0] == first and points[-1][0] == last):
            transient.setdefault(entry["role"], []).append(points)
            continue
        second = [(t / 60, mb) for t, mb in points if t >= half]
        rows.append({
            "role": entry["role"], "pid": pid, "long_lived": True, "samples": len(points),
            "start_mb": round(points[0][1], 1), "end_mb": round(points[-1][1], 1),
            "max_mb": round(max(mb for _, mb in points), 1),
            "slope_mb_per_min": round(slope(second), 3),
        })
    for role, lives in sorted(transient.items()):  # start/end: the mean at birth and at death
        rows.append({
            "role": role, "pid": f"{len(lives)} processes", "long_lived": False,
            "samples": sum(len(points) for points in lives),
            "start_mb": round(sum(points[0][1] for points in lives) / len(lives), 1),
            "end_mb": round(sum(points[-1][1] for points in lives) / len(lives), 1),
            "max_mb": round(max(mb for points in lives for _, mb in points), 1),
            "slope_mb_per_min": None,
        })
    return rows


def memory_verdict(rows: list[dict[str, Any]], minutes: float, limit: float) -> str:
    """``flat``, ``growing: …`` (a long-lived process over ``limit`` MB/min in the second
    half) or ``not judged`` for runs too short to show a trend."""
    if minutes < MIN_MINUTES_FOR_TREND:
        return f"not judged (run shorter than {MIN_MINUTES_FOR_TREND:g} min)"
    growing = [f"{r['role']} {r['pid']} {r['slope_mb_per_min']:+.2f} MB/min" for r in rows
               if r["long_lived"] and (r["slope_mb_per_min"] or 0) > limit]
    return "growing: " + ", ".join(growing) if growing else "flat"


def markdown(figures: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    f = figures
    out = [
        "# Soak", "",
        f"Command: `{f['command']}`  ",
        f"Machine: {f['machine']}  ",
        f"Load average (1/5/15 min): at start {f['loadavg_start']}, at end {f['loadavg_end']};"
        f" 1-min load over the run: mean {f['loadavg_1min_mean']}, max {f['loadavg_1min_max']}"
        f" ({os.cpu_count()} cores, shared)  ",
        f"Database: {f['database']}; {f['threads']} client threads, open loop at "
        f"{f['rate']:g} operations/s for {f['seconds'] / 60:.1f} min "
        f"({f['late']} operations started over 1 s late)", "",
        "| figure | value |", "|---|---:|",
        f"| requests | {f['requests']:,} |",
        f"| requests/s | {f['requests_per_s']:.1f} |",
        f"| appends (201, new event) | {f['appends']:,} |",
        f"| appends/s | {f['appends_per_s']:.1f} |",
        f"| idempotent repeats (same event back) | {f['replays']:,} |",
        f"| expected 412 (If-Match race) | {f['expected_412']:,} |",
        f"| **errors** | **{f['errors']}** |", "",
        "Latency counts from each operation's scheduled time (open loop), service time from"
        " the moment the request was sent.", "",
        "| request kind | count | p50 ms | p95 ms | p99 ms | max ms | service p50 | service p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out += [f"| {r['kind']} | {r['count']:,} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |"
            f" {r['max_ms']} | {r['service_p50_ms']} | {r['service_p99_ms']} |"
            for r in f["latency"]]
    out += ["", "| process | pid | samples | RSS start MB | RSS end MB | max MB |"
            " slope, 2nd half (MB/min) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in f["memory"]:
        trend = "—" if r["slope_mb_per_min"] is None else f"{r['slope_mb_per_min']:+.3f}"
        out.append(f"| {r['role']} | {r['pid']} | {r['samples']} | {r['start_mb']} |"
                   f" {r['end_mb']} | {r['max_mb']} | {trend} |")
    out += ["", f"Memory: {f['memory_verdict']} (limit {f['max_growth']:g} MB/min per process)",
            "", "Checks at the end:", ""]
    out += [f"- {'ok  ' if ok else 'FAIL'} {name}: {detail}" for name, ok, detail in f["checks"]]
    if f["error_samples"]:
        out += ["", "First errors:", ""] + [f"- {e}" for e in f["error_samples"]]
    out += ["", f"Result: {'PASS' if f['passed'] else 'FAIL'}"]
    return "\n".join(out)
