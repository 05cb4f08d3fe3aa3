"""``newsroom``: a desk team at once — writers, readers and open live feeds on one server.

Against ``claimledger serve --workers 2`` as shipped (sync workers, stream hub on, the
default stream limit of 8 per token, a views worker and Redis), for a fixed time:
writers append notes to claims, readers load the claim list and claim histories, and
``feeds`` live feeds (``/v1/events/stream``, 8 per auditor token) stay open and are
checked to receive every appended event exactly once and in order (reconnecting with
``Last-Event-ID`` when a stream ends). The same load runs first with no feeds open: that
is the peer of every figure (ratio = with feeds / without; for latencies lower is better,
the aim is append p99 within 1.5x). Two alternatives carry the same feeds without the
hub (``LEDGER_STREAM_HUB=0``): gthread workers with a thread for every client, and (full
run only: each request waits out a stream's lifetime) the sync workers as shipped with
only 4 feeds.

Writers, readers and feeds run in three processes (the feeds on one ``selectors`` loop
over raw sockets), so the client side does not share one GIL.
Run: ``python -m bench.newsroom [--quick]`` (quick: 4 writers, 8 readers, 50 feeds, 8 s a
configuration, about 2 minutes; full: 10 writers, 40 readers, 200 feeds, 30 s, about 8).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.redis_server import RedisServer

from .http import free_port
from .newsroom_clients import call
from .newsroom_clients import feeds as feeds_process
from .newsroom_clients import readers as readers_process
from .newsroom_clients import writers as writers_process

CLI = [sys.executable, "-c", "from api.cli import main; main()"]
CLAIMS = 40


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- one configuration ----------------------------------------------------------------------
def _serve(env: dict[str, str], port: int, extra: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--no-access-log", *extra], env=env,
            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if call(port, "GET", "/readyz", "", timeout=2)[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"serve did not come up (see {log})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _wait_for_feeds(port: int, feeds: int, timeout: float = 10) -> None:
    """Until ``ledger_live_streams`` counts every feed (or ``timeout``: workers that stream
    themselves may hold fewer than were asked for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = call(port, "GET", "/metrics", "", timeout=5)[1].decode()
        except OSError:
            text = ""
        found = re.search(r"^ledger_live_streams (\S+)$", text, re.MULTILINE)
        if found and float(found.group(1)) >= feeds:
            return
        time.sleep(0.1)


def measure(setup: dict[str, Any], feeds: int, serve_args: list[str], env_extra: dict[str, str],
            writers: int, readers: int, seconds: float) -> dict[str, Any]:
    """One run of the load with ``feeds`` feeds open; its figures."""
    env = {**setup["env"], **env_extra}
    port = free_port()
    server = _serve(env, port, serve_args, setup["dir"] / "serve.log")
    ctx = multiprocessing.get_context("fork")
    try:
        claims, tokens = setup["claims"], setup["tokens"]
        head = setup["head"]()
        ready, until = ctx.Event(), ctx.Value("q", 0)
        pipes = [ctx.Pipe(duplex=False) for _ in range(3)]
        feeder = None
        if feeds:
            feeder = ctx.Process(target=feeds_process, args=(
                port, setup["auditors"], feeds, head, ready, until, pipes[2][1]))
            feeder.start()
            if not ready.wait(60):
                raise RuntimeError("the feeds did not open")
            _wait_for_feeds(port, feeds)
        procs = [
            ctx.Process(target=writers_process, args=(
                port, tokens["editor"], claims, writers, seconds, pipes[0][1])),
            ctx.Process(target=readers_process, args=(
                port, tokens["reader"], claims, readers, seconds, pipes[1][1])),
        ]
        for proc in procs:
            proc.start()
        latencies, positions, write_errors = pipes[0][0].recv()
        reads, read_errors = pipes[1][0].recv()
        for proc in procs:
            proc.join()
        result: dict[str, Any] = {
            "appends/s": len(positions) / seconds,
            "append": latencies, "list": reads["list"], "history": reads["history"],
            "errors": write_errors + read_errors, "complete": None,
        }
        if feeder is not None:
            until.value = max(positions) if positions else head
            got = pipes[2][0].recv()
            feeder.join()
            expected = sorted(positions)
            result["complete"] = sum(1 for received, _ in got if received == expected)
            result["refused"] = sum(refused for _, refused in got)
        return result
    finally:
        _stop(server)


def _prepare(tmp: Path, redis_url: str, feeds: int) -> dict[str, Any]:
    """A ledger with claims to annotate, tokens, and a views worker."""
    from api import credentials as api_tokens
    from ledger.store import open_store

    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp), "LEDGER_RATE_LIMIT": "off",
           "LEDGER_DATABASE_URL": f"sqlite:///{tmp}/ledger.db", "LEDGER_REDIS_URL": redis_url}
    env = {k: v for k, v in env.items() if not k.startswith("PROMETHEUS_")}
    subprocess.run([*CLI, "init"], env=env, check=True, capture_output=True)
    store = open_store(env["LEDGER_DATABASE_URL"])
    made = {role: api_tokens.create(store, name=f"bench-{role}", role=role,
                                    created_by="bench")[1] for role in ("editor", "reader")}
    auditors = [api_tokens.create(store, name=f"bench-auditor-{n}", role="auditor",
                                  created_by="bench")[1] for n in range(math.ceil(feeds / 8))]
    store.close()
    port = free_port()
    server = _serve(env, port, ["--workers", "2"], tmp / "serve.log")
    try:
        claims = [json.loads(call(port, "POST", "/v1/claims", made["editor"], json.dumps({
            "statement": f"Iran is building two new plants at Bushehr ({n}).",
            "claimant": {"name": "Ali Khamenei"},
            "appearance": {"outlet": "Fars News Agency"}}).encode())[1])["claim_id"]
            for n in range(CLAIMS)]
    finally:
        _stop(server)

    def head() -> int:
        opened = open_store(env["LEDGER_DATABASE_URL"])
        try:
            return opened.head()
        finally:
            opened.close()

    return {"env": env, "dir": tmp, "claims": claims, "tokens": made, "auditors": auditors,
            "head": head}


def _summary(name: str, figures: dict[str, Any]) -> str:
    parts = [f"{name:<28} appends {figures['appends/s']:>6.0f}/s"]
    for op in ("append", "list", "history"):
        parts.append(f"{op} p50 {_percentile(figures[op], 0.5) * 1000:6.1f} "
                     f"p99 {_percentile(figures[op], 0.99) * 1000:7.1f} ms")
    if figures["complete"] is not None:
        parts.append(f"complete feeds {figures['complete']}")
        if figures.get("refused"):
            parts.append(f"refused {figures['refused']}")
    if figures["errors"]:
        parts.append(f"errors {figures['errors']}")
    return "  ".join(parts)


def run(quick: bool, postgres: str | None, hub_only: bool = False) -> list[dict[str, Any]]:
    """The newsroom load without feeds, with feeds (hub), and (unless ``hub_only``) the
    alternatives; rows."""
    writers, readers, feeds, seconds = (4, 8, 50, 8.0) if quick else (10, 40, 200, 30.0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-newsroom-", dir=os.environ.get("BENCH_DIR", "var")))
    redis = RedisServer(tmp / "redis").start()
    worker = None
    try:
        setup = _prepare(tmp, redis.url, feeds)
        worker = subprocess.Popen([*CLI, "worker"], env=setup["env"], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        clients = feeds + writers + readers
        # gthread: 64 threads a worker (serve's most), enough workers for every client; a
        # worker accepts connections beyond its free threads and queues them, so an unlucky
        # split can still starve one
        gthread = ["--workers", str(max(2, math.ceil(clients / 64))), "--threads", "64"]
        configs = [
            ("no feeds", 0, ["--workers", "2"], {}),
            (f"{feeds} feeds, hub", feeds, ["--workers", "2"], {}),
            ("no feeds, gthread", 0, gthread, {"LEDGER_STREAM_HUB": "0"}),
            (f"{feeds} feeds, gthread", feeds, gthread, {"LEDGER_STREAM_HUB": "0"}),
        ]
        if hub_only:
            configs = configs[:2]
        elif not quick:  # every request waits out a stream's lifetime (25 s): minutes
            configs.append(("4 feeds, sync, no hub", 4, ["--workers", "2"],
                            {"LEDGER_STREAM_HUB": "0"}))
        results: dict[str, dict[str, Any]] = {}
        for name, count, args, extra in configs:
            results[name] = measure(setup, count, args, extra, writers, readers, seconds)
            print(_summary(name, results[name]), flush=True)
        return _rows(results, feeds)
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _rows(results: dict[str, dict[str, Any]], feeds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for label, key, peer_label in (
        (f"{feeds} feeds, hub", "newsroom", "no feeds"),
        (f"{feeds} feeds, gthread", "newsroom-gthread", "no feeds, gthread"),
        ("4 feeds, sync, no hub", "newsroom-sync-4", "no feeds"),
    ):
        found = results.get(label)
        if found is None:
            continue
        base = results[peer_label]
        rate = found["appends/s"]
        rows.append({"scenario": f"{key}-appends", "unit": f"appends/s, {label}",
                     "ours": round(rate), "peer": round(base["appends/s"]),
                     "peer_name": peer_label,
                     "ratio": round(rate / base["appends/s"], 2) if base["appends/s"] else None})
        for op in ("append", "list", "history") if key == "newsroom" else ("append",):
            for q, tag in ((0.5, "p50"), (0.99, "p99")):
                ours = _percentile(found[op], q) * 1000
                peer = _percentile(base[op], q) * 1000
                rows.append({"scenario": f"{key}-{op}-{tag}",
                             "unit": f"ms, {label} (ratio: with / without, lower is better)",
                             "ours": round(ours, 1), "peer": round(peer, 1),
                             "peer_name": peer_label,
                             "ratio": round(ours / peer, 2) if peer else None})
        if found["complete"] is not None:
            opened = 4 if key == "newsroom-sync-4" else feeds
            rows.append({"scenario": f"{key}-delivery",
                         "unit": "feeds that got every event once, in order",
                         "ours": f"{found['complete']} of {opened}",
                         "peer": None, "peer_name": None, "ratio": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the newsroom scenario alone and print its rows."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 feeds for 8 s per config")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--hub-only", action="store_true", help="skip the alternatives")
    args = parser.parse_args(argv)
    os.makedirs(os.environ.setdefault("BENCH_DIR", "var"), exist_ok=True)
    rows = run(args.quick, None, args.hub_only)
    from .run import table

    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
