"""The soak (bench/soak) in miniature: a few seconds of real load on the whole system, the
report's shape, zero errors and every end check passed; and its memory-trend arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.soak.report import latency_rows, memory_rows, memory_verdict, slope
from tests.support.paths import ROOT


def test_a_short_soak_reports_every_figure_with_no_error(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--minutes", "0.1", "--rate", "20",
         "--sample-every", "1", "--json", str(out)],
        cwd=ROOT, env={**env, "BENCH_DIR": str(tmp_path)}, capture_output=True, text=True,
        timeout=240, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert figures["errors"] == 0, figures["error_samples"]
    assert figures["requests"] > 60
    assert figures["appends"] > 10
    assert figures["passed"] is True
    assert [name for name, ok, _ in figures["checks"] if not ok] == []
    kinds = {row["kind"] for row in figures["latency"]}
    assert {"all", "create claim", "claim", "events page", "history proofs"} <= kinds
    assert all(row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
               for row in figures["latency"])
    long_lived = [row["role"] for row in figures["memory"] if row["long_lived"]]
    # the RQ worker's children (its scheduler, the job work-horses) may come and go
    assert {"gunicorn master", "gunicorn worker", "redis-server", "rq worker"} <= set(long_lived)
    assert set(long_lived) <= {"gunicorn master", "gunicorn worker", "redis-server", "rq worker",
                               "rq child"}
    assert long_lived.count("gunicorn worker") == 2
    assert all(row["start_mb"] > 1 and row["end_mb"] > 1 for row in figures["memory"])
    assert "| request kind |" in result.stdout
    assert "Result: PASS" in result.stdout
    assert list(tmp_path.iterdir()) == [out]  # the temp directory is gone


def test_the_memory_trend_flags_growth_only_in_the_second_half() -> None:
    warm_then_flat = [{"t": t * 30.0, "processes": [
        {"role": "gunicorn worker", "pid": 7, "rss_mb": 50.0 + min(t, 5) * 4}]}
        for t in range(21)]
    leaking = [{"t": t * 30.0, "processes": [
        {"role": "gunicorn worker", "pid": 7, "rss_mb": 50.0 + t * 2}]} for t in range(21)]
    flat = memory_rows(warm_then_flat)
    assert flat[0]["slope_mb_per_min"] == 0
    assert (flat[0]["start_mb"], flat[0]["end_mb"]) == (50.0, 70.0)
    assert memory_verdict(flat, 10, 1.0) == "flat"
    growing = memory_rows(leaking)
    assert growing[0]["slope_mb_per_min"] == 4.0
    assert memory_verdict(growing, 10, 1.0) == "growing: gunicorn worker 7 +4.00 MB/min"
    assert memory_verdict(growing, 1, 1.0).startswith("not judged")


def test_latency_rows_give_nearest_rank_percentiles() -> None:
    rows = latency_rows({"claim": [i / 1000 for i in range(1, 101)]},
                        {"claim": [i / 2000 for i in range(1, 101)]})
    claim = rows[0]
    assert (claim["p50_ms"], claim["p95_ms"], claim["p99_ms"], claim["max_ms"]) == (
        50.0, 95.0, 99.0, 100.0)
    assert (claim["service_p50_ms"], claim["service_p99_ms"]) == (25.0, 49.5)
    assert rows[-1]["kind"] == "all"
    assert slope([(0, 1), (1, 3), (2, 5)]) == 2.0
