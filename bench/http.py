"""HTTP scenarios: ``http-append`` and ``http-history`` through ``claimledger serve
--workers 2``, beside a trivial Flask app served by gunicorn the same way, with wrk
(16 connections) driving both in the same run.

``http-append-ceiling`` serves the trivial app's ``/echo`` plus one durable SQLite insert
per request (``bench.trivial_durable``) the same way: the rate no durable append through
Flask and gunicorn on this machine exceeds, as a ratio to the trivial app.

The sides of each comparison are measured interleaved: each side's time is cut into
``SLICES`` wrk runs, taken in turn with the other sides' (the first side changing from
slice to slice), so a burst of the neighbours' load or of the disk's flushes falls on all
of them alike rather than on whichever ran in that window. Beside each rate the run prints
the server processes' CPU time per request over the side's own slices (user + system,
from ``/proc``): for the API its gunicorn workers, the views worker and Redis. The
neighbours' load moves it far less than requests per second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTE = json.dumps({"text": "Checked with the Tehran bureau."})
JSON = "application/json"
#: claims the append scenario spreads its notes over
TARGET_CLAIMS = 200
#: wrk runs each side's time is cut into, interleaved with the other sides'
SLICES = 5
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, timeout: float = 60, *, post: bool = False) -> None:
    """Wait until ``url`` answers a GET with 200 (or, with ``post``, a JSON POST with 201)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(
                url, data=b"{}" if post else None, headers={"Content-Type": JSON}
            )
            with urllib.request.urlopen(req, timeout=1) as response:
                if response.status == (201 if post else 200):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _request(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


@dataclass
class Load:
    """What wrk measured: requests answered in so many seconds."""

    requests: int
    seconds: float


_DONE = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def wrk(url: str, seconds: int, token: str | None, body: str | None,
        paths: list[str] | None = None) -> Load:
    """One wrk -c16 -t2 run; fails if any answer was not 2xx.

    With ``paths``, the POSTs go to each path in turn (``url`` gives the host).
    """
    script = None
    args = ["wrk", "-c16", "-t2", f"-d{seconds}s", "--latency"]
    if body is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
                     'wrk.headers["Content-Type"] = "application/json"\n')
        if token:
            script.write(f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        if paths:
            listed = ", ".join(json.dumps(p) for p in paths)
            script.write(f"paths = {{{listed}}}\nn = math.random(#paths)\n"
                         "request = function()\n  n = n % #paths + 1\n"
                         "  return wrk.format(nil, paths[n])\nend\n")
        script.close()
        args += ["-s", script.name]
    elif token:
        args += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors against {url}:\n{out}")
    match = _DONE.search(out)
    assert match, out
    return Load(int(match.group(1)), float(match.group(2)) * _UNIT[match.group(3)])


def cpu_seconds(groups: list[int], pids: list[int]) -> float:
    """User + system CPU seconds of the processes in process ``groups``, and ``pids``
    (with their reaped children's)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as handle:
                fields = handle.read().rpartition(")")[2].split()
        except OSError:  # gone meanwhile
            continue
        # after the command: state, ppid, pgrp, …, utime, stime, and the same of the
        # children it waited for (the views worker forks one per job)
        if int(fields[2]) in groups or int(entry) in pids:
            total += sum(int(f) for f in fields[11:15])
    return total / _TICK


@dataclass
class Side:
    """One thing measured: how to load it for n seconds, and its server processes."""

    name: str
    load: Callable[[int], Load]
    groups: list[int]
    pids: list[int] = field(default_factory=list)
    parts: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)


@dataclass
class Measured:
    """A side's totals over its slices, and its processes' CPU over them."""

    requests: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def cpu_us(self, part: str = "all") -> float:
        """CPU microseconds per request (of one part of the side, or of all of it)."""
        return self.cpu[part] / self.requests * 1e6


def interleaved(sides: list[Side], seconds: int, slices: int = SLICES) -> dict[str, Measured]:
    """Each side loaded for ``seconds`` in all, in ``slices`` runs taken in turn; a side's
    CPU is its processes' over its own runs (the views worker lags its appends by a batch)."""
    step = max(1, round(seconds / slices))
    results = {side.name: Measured() for side in sides}

    def cpu_now(side: Side) -> dict[str, float]:
        parts = {"all": (side.groups, side.pids), **side.parts}
        return {name: cpu_seconds(groups, pids) for name, (groups, pids) in parts.items()}

    for n in range(slices):
        for side in sides[n % len(sides):] + sides[:n % len(sides)]:
            before = cpu_now(side)
            load = side.load(step)
            after = cpu_now(side)
            result = results[side.name]
            result.requests += load.requests
            result.seconds += load.seconds
            for part, used in after.items():
                result.cpu[part] = result.cpu.get(part, 0.0) + used - before[part]
    return results


def _popen(args: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """A server in a session (and process group) of its own, its output discarded."""
    return subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **options)


def _row(scenario: str, ours: Measured, peer: Measured) -> dict[str, Any]:
    ratio = ours.rate / peer.rate
    print(f"{scenario:<19} ours {ours.rate:>8.0f}/s   trivial Flask {peer.rate:>8.0f}/s"
          f"   ratio {ratio:.2f}", flush=True)
    return {"scenario": scenario, "unit": "requests/s", "ours": round(ours.rate),
            "peer": round(peer.rate), "peer_name": "trivial Flask app",
            "ratio": round(ratio, 2)}


def _cpu_line(name: str, measured: Measured) -> str:
    parts = ", ".join(f"{part} {measured.cpu_us(part):.0f}" for part in measured.cpu
                      if part != "all")
    return f"{name} {measured.cpu_us():.0f} µs" + (f" ({parts})" if parts else "")


def run(quick: bool, postgres: str | None) -> list[dict[str, Any]]:
    """Both HTTP scenarios; returns rows for the harness."""
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk): skipping the HTTP scenarios")
        return []
    seconds = 5 if quick else 15
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-", dir=os.environ.get("BENCH_DIR", "var")))
    # appends trigger the views' catch-up as in production: a worker keeps them current
    redis = RedisServer(tmp / "redis").start()
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp), "LEDGER_RATE_LIMIT": "off",
           "LEDGER_DATABASE_URL": f"sqlite:///{tmp}/ledger.db", "LEDGER_REDIS_URL": redis.url}
    cli = str(BIN / "claimledger")
    subprocess.run([cli, "init"], env=env, check=True, capture_output=True)
    token = subprocess.run([cli, "tokens", "create", "--name", "bench", "--role", "editor"],
                           env=env, check=True, capture_output=True, text=True).stdout.strip()
    ours_port, trivial_port, durable_port = free_port(), free_port(), free_port()
    gunicorn = [str(BIN / "gunicorn"), "--workers", "2", "--bind"]
    serve, worker, trivial_app, durable_app = servers = [
        _popen([cli, "serve", "--workers", "2", "--port", str(ours_port), "--no-access-log"],
               env=env),
        _popen([cli, "worker"], env=env),
        _popen([*gunicorn, f"127.0.0.1:{trivial_port}", "bench.trivial:app"], cwd=ROOT),
        _popen([*gunicorn, f"127.0.0.1:{durable_port}", "bench.trivial_durable:app"], cwd=ROOT,
               env={**os.environ, "BENCH_DURABLE_DB": str(tmp / "durable.db")}),
    ]
    assert redis.process is not None
    rows: list[dict[str, Any]] = []
    try:
        ours, trivial = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{trivial_port}"
        durable = f"http://127.0.0.1:{durable_port}"
        _wait(f"{ours}/healthz")
        _wait(f"{trivial}/hello")
        _wait(f"{durable}/echo", post=True)
        claim = _request(f"{ours}/v1/claims", token, {
            "statement": "Kerry asked Zarif for Iran's help against ISIL.",
            "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars News Agency"}})
        history_claim = claim["claim_id"]
        for _ in range(19):
            _request(f"{ours}/v1/claims/{history_claim}/notes", token, json.loads(NOTE))
        # a desk annotating many claims at once, not one claim growing without end (the
        # views refold a claim per batch, so one claim of thousands of notes costs O(n))
        targets = [_request(f"{ours}/v1/claims", token, {
            "statement": f"Iran is building two new plants at Bushehr ({n}).",
            "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars News Agency"}})
            for n in range(TARGET_CLAIMS)]
        note_paths = [f"/v1/claims/{t['claim_id']}/notes" for t in targets]
        api_parts = {"API workers": ([serve.pid], []), "views worker": ([worker.pid], []),
                     "Redis": ([], [redis.process.pid])}
        api = ([serve.pid, worker.pid], [redis.process.pid])
        writes = interleaved([
            Side("ours", lambda s: wrk(ours, s, token, NOTE, note_paths), *api, api_parts),
            Side("ceiling", lambda s: wrk(f"{durable}/echo", s, None, NOTE), [durable_app.pid]),
            Side("trivial", lambda s: wrk(f"{trivial}/echo", s, None, NOTE), [trivial_app.pid]),
        ], seconds)
        history = f"{ours}/v1/claims/{history_claim}/history"
        reads = interleaved([
            Side("ours", lambda s: wrk(history, s, token, None), *api, api_parts),
            Side("trivial", lambda s: wrk(f"{trivial}/hello", s, None, None), [trivial_app.pid]),
        ], seconds)
        rows.append(_row("http-append", writes["ours"], writes["trivial"]))
        rows.append(_row("http-append-ceiling", writes["ceiling"], writes["trivial"]))
        rows.append(_row("http-history", reads["ours"], reads["trivial"]))
        ceiling = writes["ours"].rate / writes["ceiling"].rate
        print(f"http-append ÷ http-append-ceiling {ceiling:.2f} (same slices); server CPU per"
              f" request: {_cpu_line('append', writes['ours'])};"
              f" {_cpu_line('ceiling', writes['ceiling'])}; {_cpu_line('echo', writes['trivial'])};"
              f" {_cpu_line('history', reads['ours'])}; {_cpu_line('hello', reads['trivial'])}",
              flush=True)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv, postgres=None)
