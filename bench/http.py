"""HTTP scenarios: ``http-append`` and ``http-history`` through ``claimledger serve
--workers 2``, beside a trivial Flask app served by gunicorn the same way, with wrk
(16 connections) driving both in the same run.

``http-append-ceiling`` serves the trivial app's ``/echo`` plus one durable SQLite insert
per request (``bench.trivial_durable``) the same way: the rate no durable append through
Flask and gunicorn on this machine exceeds, as a ratio to the trivial app."""

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
from pathlib import Path
from typing import Any

from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTE = json.dumps({"text": "Checked with the Tehran bureau."})
JSON = "application/json"
#: claims the append scenario spreads its notes over
TARGET_CLAIMS = 200


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


def wrk(url: str, seconds: int, token: str | None, body: str | None,
        paths: list[str] | None = None) -> float:
    """Requests per second from wrk -c16 -t2; fails if any answer was not 2xx.

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
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


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
    servers = [
        subprocess.Popen([cli, "serve", "--workers", "2", "--port", str(ours_port),
                          "--no-access-log"], env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([cli, "worker"], env=env, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "gunicorn"), "--workers", "2", "--bind",
                          f"127.0.0.1:{trivial_port}", "bench.trivial:app"], cwd=ROOT,
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "gunicorn"), "--workers", "2", "--bind",
                          f"127.0.0.1:{durable_port}", "bench.trivial_durable:app"], cwd=ROOT,
                         env={**os.environ, "BENCH_DURABLE_DB": str(tmp / "durable.db")},
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL),
    ]
    rows: list[dict[str, Any]] = []
    try:
        ours, trivial = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{trivial_port}"
        _wait(f"{ours}/healthz")
        _wait(f"{trivial}/hello")
        durable = f"http://127.0.0.1:{durable_port}"
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
        appends = wrk(ours, seconds, token, NOTE, note_paths)
        echoes = wrk(f"{trivial}/echo", seconds, None, NOTE)
        for scenario, our_rate, peer_rate in (
            ("http-append", appends, echoes),
            ("http-append-ceiling", wrk(f"{durable}/echo", seconds, None, NOTE), echoes),
            ("http-history",
             wrk(f"{ours}/v1/claims/{history_claim}/history", seconds, token, None),
             wrk(f"{trivial}/hello", seconds, None, None)),
        ):
            rows.append({"scenario": scenario, "unit": "requests/s", "ours": round(our_rate),
                         "peer": round(peer_rate), "peer_name": "trivial Flask app",
                         "ratio": round(our_rate / peer_rate, 2)})
            print(f"{scenario:<19} ours {our_rate:>8.0f}/s   trivial Flask {peer_rate:>8.0f}/s"
                  f"   ratio {our_rate / peer_rate:.2f}", flush=True)
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    run(quick="--quick" in sys.argv, postgres=None)
