"""``python -m bench.soak [--minutes N] [--rate R] [--json FILE]``: the soak.

Starts the whole system in a temp directory (redis-server, ``claimledger serve --workers
2``, one ``claimledger worker``; SQLite unless ``--database-url`` names a PostgreSQL
server, where a fresh schema is used), drives editors, auditors and readers open-loop at
a steady rate, samples the memory of every process it started, checks the ledger at the
end and prints a Markdown summary. Exits 1 on any error, failed check or memory growth.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.run import machine

from . import checks, report
from .load import Clients, Model, Recorder, drive
from .system import System, drop_pg_schema, pg_schema_url, rss_mb


def progress(line: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"soak: {line}", file=sys.stderr, flush=True)


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    with open("/proc/loadavg", encoding="utf-8") as handle:
        return " ".join(handle.read().split()[:3])


class Sampler(threading.Thread):
    """Samples the RSS of every process of the system every ``every`` seconds."""

    def __init__(self, system: System, every: float, begin: float) -> None:
        super().__init__(daemon=True)
        self.system, self.every, self.begin = system, every, begin
        self.samples: list[dict[str, Any]] = []
        self.done = threading.Event()

    def sample(self) -> None:
        """Take one sample now."""
        processes = []
        for role, pid in self.system.processes():
            mb = rss_mb(pid)
            if mb is not None:
                processes.append({"role": role, "pid": pid, "rss_mb": round(mb, 2)})
        self.samples.append({"t": round(time.monotonic() - self.begin, 2),
                             "loadavg_1min": float(loadavg().split()[0]),
                             "processes": processes})

    def run(self) -> None:
        """Sample until told to stop."""
        while not self.done.wait(self.every):
            self.sample()


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (10)")
    parser.add_argument("--rate", type=float, default=25.0,
                        help="operations per second, all clients together (25)")
    parser.add_argument("--threads", type=int, default=6, help="client threads (6)")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--max-growth", type=float, default=1.0,
                        help="MB/min a long-lived process may grow over the 2nd half (1.0)")
    parser.add_argument("--sample-every", type=float,
                        help="seconds between memory samples (default: 60 samples a run)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when it passed."""
    args = parse(argv)
    seconds = args.minutes * 60
    os.makedirs(os.environ.setdefault("BENCH_DIR", "var"), exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="soak-", dir=os.environ["BENCH_DIR"])).resolve()
    database, schema = f"sqlite:///{tmp / 'ledger.db'}", None
    if args.database_url:
        database, schema = pg_schema_url(args.database_url)
    system = System(tmp, database)
    loadavg_start, clock = loadavg(), time.monotonic()
    try:
        system.start()
        progress(f"system up in {tmp} after {time.monotonic() - clock:.1f} s; load for "
                 f"{seconds:g} s at {args.rate:g} operations/s")
        figures = soak(system, args, seconds)
    finally:
        system.stop()
        progress(f"stopped after {time.monotonic() - clock:.1f} s")
        if schema is not None and not args.keep:
            drop_pg_schema(args.database_url, schema)
        if not args.keep:
            system.remove()
    figures.update(
        command="python -m bench.soak " + " ".join(sys.argv[1:] if argv is None else argv),
        machine=machine(), loadavg_start=loadavg_start,
        database="PostgreSQL (fresh schema)" if schema else "SQLite (file)")
    print(report.markdown(figures), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    return 0 if figures["passed"] else 1


def soak(system: System, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """Drive the load, sample memory, run the end checks; the figures."""
    with httpx.Client(base_url=system.url, timeout=10) as http:
        key = http.get("/v1/log/key", headers={
            "Authorization": f"Bearer {system.tokens['auditor']}"}).json()["verifier_key"]
    recorder, model = Recorder(), Model()
    clients = Clients(system.url, system.tokens, key, recorder, model)
    begin = time.monotonic()
    sampler = Sampler(system, args.sample_every or max(1.0, seconds / 60), begin)
    sampler.sample()
    workers_at_start = {pid for role, pid in system.processes() if role == "gunicorn worker"}
    sampler.start()
    elapsed = drive(clients, args.rate, seconds, args.threads, args.seed)
    sampler.done.set()
    sampler.join()
    sampler.sample()
    loadavg_end = loadavg()
    progress(f"load done: {recorder.requests()} requests, {recorder.error_count} errors; checking")
    workers_at_end = {pid for role, pid in system.processes() if role == "gunicorn worker"}

    results: list[tuple[str, bool, str]] = []
    dead = system.alive()
    results.append(("every process still running", not dead, "; ".join(dead) or "yes"))
    results.append(("no API worker restarted", workers_at_start == workers_at_end,
                    f"pids {sorted(workers_at_start)} → {sorted(workers_at_end)}"))
    projections = checks.views_caught_up(system)
    results.append(("views caught up", projections.get("lag") == 0,
                    f"head {projections.get('head')}, lag {projections.get('lag')}"))
    results.append(("views equal a fold of the log", *checks.views_equal_fold(system)))
    claims = list(model.claims)
    different = checks.served_equal_replay(system, claims)
    results.append(("every claim served equals its replay as_of now", not different,
                    f"{len(claims)} claims" + (f"; {different[:3]}" if different else "")))
    problems = checks.log_equals_acknowledged(system, model)
    results.append(("log holds exactly the acknowledged events", not problems,
                    "; ".join(problems) or f"{len(model.acked)} events, positions 1…"
                    f"{len(model.acked)}"))
    results.append(("claimledger audit", *checks.audit(system)))

    memory = report.memory_rows(sampler.samples)
    load = [sample["loadavg_1min"] for sample in sampler.samples]
    verdict = report.memory_verdict(memory, seconds / 60, args.max_growth)
    requests = recorder.requests()
    passed = (recorder.error_count == 0 and all(ok for _, ok, _ in results)
              and not verdict.startswith("growing"))
    return {
        "rate": args.rate, "threads": args.threads, "seconds": round(elapsed, 1),
        "loadavg_end": loadavg_end, "loadavg_1min_mean": round(sum(load) / len(load), 2),
        "loadavg_1min_max": max(load), "requests": requests,
        "requests_per_s": round(requests / elapsed, 2), "appends": recorder.appends,
        "appends_per_s": round(recorder.appends / elapsed, 2), "replays": recorder.replays,
        "expected_412": recorder.expected_412, "errors": recorder.error_count,
        "error_samples": recorder.errors, "late": recorder.late,
        "statuses": dict(sorted(recorder.statuses.items())),
        "latency": report.latency_rows(recorder.latencies, recorder.service),
        "memory": memory, "memory_verdict": verdict, "max_growth": args.max_growth,
        "memory_samples": sampler.samples, "checks": results, "passed": passed,
    }


if __name__ == "__main__":
    sys.exit(main())
