"""The benchmark harness: every scenario, ours beside the peer, in one run.

``python -m bench.run [--quick] [--json FILE] [--only NAME,…]`` prints a Markdown table
and the machine it ran on; ``--json`` writes ``[{"scenario", "unit", "ours", "peer",
"peer_name", "ratio"}]`` (ratio = ours / peer, higher is better; peer null if none).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

#: scenario groups in run order: (module, scenarios it produces)
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    (
        "bench.append",
        (
            "append-1-sqlite", "append-1-postgres", "append-batch-sqlite", "append-batch-postgres",
            "append-spread-sqlite", "append-spread-postgres", "append-1-sqlite-rows-only",
        ),
    ),
    (
        "bench.replay",
        ("replay-claim-sqlite", "replay-claim-postgres", "read-all-sqlite", "read-all-postgres"),
    ),
    ("bench.http", ("http-append", "http-append-ceiling", "http-history")),
    ("bench.views", ("catch-up", "rebuild-1m", "rebuild-1m-cpu", "lag-p99")),
    ("bench.outage", ("outage-append-up-p50", "outage-append-hung-first-3",
                      "outage-append-hung-p50", "outage-append-dead-first-3",
                      "outage-append-dead-p50", "outage-claim-read-dead-p50",
                      "outage-claim-read-dead-max")),
    ("bench.search", tuple(f"search-{what}-{backend}" for backend in ("sqlite", "postgres")
                           for what in ("two-words-status-p99", "two-words-status-p50",
                                        "similar-p99", "rebuild", "catch-up", "recall"))),
    (
        "bench.pages",
        (
            "pages-desk-list", "pages-desk-claim", "pages-api-claim", "pages-api-history",
            "pages-long-desk-claim", "pages-long-api-history",
        ),
    ),
    ("bench.proofs", ("proof-1m",)),
    ("bench.links", ("links-from-log-sqlite", "links-index-insert-sqlite",
                     "links-from-log-postgres", "links-index-insert-postgres")),
    (
        "bench.verify",
        ("verify-all", "verify-all-client-cpu", "verify-all-server-cpu", "verify-all-feed",
         "verify-all-replay"),
    ),
    ("bench.witness", ("witness-cosign", "witness-decide")),
    ("bench.newsroom", ("newsroom-appends", "newsroom-append-p99", "newsroom-delivery",
                        "newsroom-gthread-append-p99", "newsroom-sync-4-append-p99")),
    ("bench.scale_out", ("scale-out-appends", "scale-out-appends-4-workers",
                         "scale-out-append-p99", "scale-out-lock-hold", "scale-out-lock-waiter",
                         "scale-out-lock-wait", "scale-out-store-1", "scale-out-store-4",
                         "scale-out-store-remote")),
]


def machine() -> str:
    """One line describing where the run happened."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    sqlite = __import__("sqlite3").sqlite_version
    pg = ""
    with contextlib.suppress(OSError):
        pg = subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite}, {pg or 'no psql'}, {platform.system()} {platform.release()}"
    )


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    out = ["| scenario | unit | ours | peer | peer name | ratio |", "|---|---|---:|---:|---|---:|"]
    for r in rows:
        peer = "—" if r.get("peer") is None else f"{r['peer']:,}"
        ratio = "—" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        ours = r["ours"] if isinstance(r["ours"], str) else f"{r['ours']:,}"
        out.append(
            f"| {r['scenario']} | {r['unit']} | {ours} | {peer} | "
            f"{r.get('peer_name') or '—'} | {ratio} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the harness."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes a group)")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--only", help="comma-separated module names, e.g. append,replay")
    parser.add_argument("--postgres", default=os.environ.get("LEDGER_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    os.makedirs(os.environ.setdefault("BENCH_DIR", "var"), exist_ok=True)
    only = set(args.only.split(",")) if args.only else None
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    broken: list[str] = []
    started = time.perf_counter()
    for module_name, scenarios in GROUPS:
        if only and module_name.split(".")[1] not in only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the group is there but imports what is not
                broken.append(f"{module_name} ({exc})")
                print(f"## {module_name}: cannot be imported: {exc}", flush=True)
            missing.extend(scenarios)
            continue
        print(f"## {module_name}", flush=True)
        rows.extend(module.run(args.quick, args.postgres))
    elapsed = time.perf_counter() - started
    print()
    print(f"Machine: {machine()}")
    print(
        f"Command: python -m bench.run {' '.join(argv if argv is not None else sys.argv[1:])}"
        f"  ({elapsed:.0f} s)"
    )
    print()
    print(table(rows))
    if missing:
        print(f"\nnot measured (module missing): {', '.join(missing)}")
    if broken:
        print(f"groups that failed to import: {'; '.join(broken)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
