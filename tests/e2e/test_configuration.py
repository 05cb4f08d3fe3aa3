"""Configuration in one place: every LEDGER_* variable documented, and a bad value of each
stops `claimledger serve` and `claimledger worker` at start-up with one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from api.settings import Settings
from tests.support.net import NO_REDIS
from tests.support.paths import ROOT

SETTINGS = ROOT / "api" / "settings.py"
OPERATIONS = ROOT / "docs" / "operations.md"
ENV_EXAMPLE = ROOT / ".env.example"
VARIABLE = r"\bLEDGER_(?!TEST_)[A-Z_]+[A-Z]\b"
#: read by the launchers (docker-compose.yml, scripts/run), never by the ledger itself
LAUNCHER_ONLY = {"LEDGER_HTTP_PORT", "LEDGER_RUN_REDIS_PORT"}


def read_by_the_code() -> set[str]:
    """The LEDGER_* variables api/settings.py reads."""
    return set(re.findall(VARIABLE, SETTINGS.read_text()))


def bad_values(tmp_path: Path) -> dict[str, str]:
    """One bad value of every variable."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    return {
        "LEDGER_DATA_DIR": str(a_file),
        "LEDGER_DATABASE_URL": "mysql://ledger@db/ledger",
        "LEDGER_REDIS_URL": "http://127.0.0.1:6379",
        "LEDGER_QUEUE_REDIS_URL": "redis+cluster://127.0.0.1:7000",
        "LEDGER_SIGNING_KEY": str(tmp_path),
        "LEDGER_LOG_ORIGIN": "my log",
        "LEDGER_CHECKPOINT_INTERVAL": "soon",
        "LEDGER_PUBLIC_READ": "maybe",
        "LEDGER_SCALES_FILE": str(tmp_path / "missing.json"),
        "LEDGER_MAX_BODY_BYTES": "1MB",
        "LEDGER_MAX_IMPORT_BYTES": "-5",
        "LEDGER_MAX_IMPORT_EVENTS": "0",
        "LEDGER_RATE_LIMIT": "fast",
        "LEDGER_RATE_LIMIT_STORAGE": "postgresql://db/limits",
        "LEDGER_DESK_RATE_LIMIT": "often",
        "LEDGER_PARTITIONS": "0",
        "LEDGER_VIEWS_TICK_SECONDS": "0",
        "LEDGER_VIEWS_BATCH": "lots",
        "LEDGER_VIEWS_LOCK_TTL": "-1",
        "LEDGER_VIEWS_LINGER": "inf",
        "LEDGER_VIEWS_DROP_DELAY": "ten",
        "LEDGER_VIEWS_BACKOFF_MAX": "0",
        "LEDGER_SECRET_KEY": "short",
        "LEDGER_COOKIE_SECURE": "2",
        "LEDGER_PUBLIC_URL": "ledger.example.org",
        "LEDGER_REVIEW_AUTHOR": "two\nlines",
        "LEDGER_REVIEW_AUTHOR_URL": "ftp://example.org",
        "LEDGER_STREAM_MAX_SECONDS": "0",
        "LEDGER_STREAM_HEARTBEAT_SECONDS": "1.5",
        "LEDGER_STREAM_LIMIT": "0",
        "LEDGER_STREAM_HUB": "maybe",
        "LEDGER_SEARCH": "sometimes",
        "LEDGER_HOST": "0.0.0.0 8000",
        "LEDGER_PORT": "70000",
        "LEDGER_WORKERS": "many",
        "LEDGER_ACTOR": "tab\there",
        "LEDGER_LOG_LEVEL": "loud",
        "LEDGER_REQUEST_LOG": "yes please",
        "LEDGER_TOKEN": "clt_ two words",
        "LEDGER_VERIFIER_KEY": "not-a-key",
        "LEDGER_CORS_ORIGINS": "desk.example.org/app",
        "LEDGER_WITNESSES": "not-a-witness",
        "LEDGER_WITNESS_KEY": str(tmp_path),
        "LEDGER_WITNESS_NAME": "two words",
        "LEDGER_WITNESS_DB": str(tmp_path),
        "LEDGER_WITNESS_LOGS": "not-a-key",
    }


def base_env(tmp_path: Path) -> dict[str, str]:
    """Good settings whose store does not exist, so nothing could start for real."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DATA_DIR=str(tmp_path), LEDGER_REDIS_URL=NO_REDIS,
               LEDGER_DATABASE_URL=f"sqlite:///{tmp_path / 'absent' / 'ledger.db'}")
    return env


# Starting 70 interpreters would cost a minute; one imports the CLI once and forks a
# child per case, and each child runs the console script's own entry point.
DRIVER = r"""
import contextlib, json, os, signal, sys
from api import cli
cli._register()
cases, base, out_dir = json.load(sys.stdin)
results = []
for i, (name, value, command) in enumerate(cases):
    err, out = f"{out_dir}/{i}.err", f"{out_dir}/{i}.out"
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        signal.alarm(15)  # a start-up that does not fail within 15 s ends here
        os.environ.clear()
        os.environ.update(base, **{name: value})
        fd_out = os.open(out, os.O_WRONLY | os.O_CREAT)
        fd_err = os.open(err, os.O_WRONLY | os.O_CREAT)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        code = 0
        try:
            cli.main([command])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 99
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code == -signal.SIGALRM:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # anything it started
        code = "still running after 15 s"
    results.append([name, command, code, open(err).read()])
print(json.dumps(results))
"""


def start_each(tmp_path: Path, cases: list[tuple[str, str, str]]) -> list[list[Any]]:
    """Start ``claimledger COMMAND`` once per (variable, bad value, command) case."""
    out_dir = tmp_path / "runs"
    out_dir.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", DRIVER], cwd=ROOT,
        input=json.dumps([cases, base_env(tmp_path), str(out_dir)]),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    runs: list[list[Any]] = json.loads(result.stdout)
    return runs


def one_clear_line(name: str, command: str, code: Any, stderr: str) -> str | None:
    """What is wrong with how a start-up failed, or None when it failed as it should."""
    lines = stderr.strip().splitlines()
    if code == 0 or not isinstance(code, int):
        return f"{command} with a bad {name}: exit {code}"
    if "Traceback" in stderr or len(lines) != 1:
        return f"{command} with a bad {name}: not one line:\n{stderr}"
    if not lines[0].startswith("Error: ") or name not in lines[0]:
        return f"{command} with a bad {name}: the line does not name it: {lines[0]}"
    return None


def test_a_bad_value_of_every_variable_stops_serve_and_worker_with_one_line(
    tmp_path: Path,
) -> None:
    bad = bad_values(tmp_path)
    assert set(bad) == read_by_the_code(), "give every variable the code reads a bad value"
    cases = [(name, value, command) for name, value in bad.items()
             for command in ("serve", "worker")]
    runs = start_each(tmp_path, cases)
    problems = [p for p in (one_clear_line(*run) for run in runs) if p]
    assert not problems, "\n".join(problems)


def test_the_installed_claimledger_script_fails_the_same_way(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "claimledger"
    env = base_env(tmp_path)
    for command, name, value in (("serve", "LEDGER_PORT", "http"),
                                 ("worker", "LEDGER_PARTITIONS", "-1")):
        result = subprocess.run([str(script), command], env={**env, name: value},
                                capture_output=True, text=True, timeout=60)
        problem = one_clear_line(name, command, result.returncode, result.stderr)
        assert problem is None, problem


def test_a_worker_started_without_redis_says_so_in_one_line(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "claimledger"
    env = {**base_env(tmp_path), "LEDGER_REDIS_URL": "redis://:secret@127.0.0.1:1/0"}
    result = subprocess.run([str(script), "worker"], env=env, capture_output=True, text=True,
                            timeout=60)
    problem = one_clear_line("LEDGER_REDIS_URL", "worker", result.returncode, result.stderr)
    assert problem is None, problem
    assert "cannot reach Redis at redis://***@127.0.0.1:1/0" in result.stderr


def test_no_other_module_reads_the_environment() -> None:
    any_read = re.compile(r"os\.environ|getenv|envvar=")
    ledger_read = re.compile(r"(?:environ\.get|environ\[|getenv)\(?\s*[\"']LEDGER_")
    other_contracts = {
        # PROMETHEUS_MULTIPROC_DIR is prometheus_client's own contract, not a setting
        ROOT / "api" / "metrics.py", ROOT / "api" / "gunicorn_conf.py",
        # serve hands its environment on to gunicorn, whose app reads it through Settings
        ROOT / "api" / "cli" / "serve.py",
        # CLAIMLEDGER_RUN_DIR is the gunicorn master's contract with its workers
        ROOT / "api" / "streamslots.py",
    }
    for package in ("api", "workers", "ledger"):
        for path in (ROOT / package).rglob("*.py"):
            if path == SETTINGS:
                continue
            text = path.read_text()
            name = path.relative_to(ROOT)
            assert not ledger_read.search(text), f"{name} reads a LEDGER_* variable"
            if path not in other_contracts:
                assert not any_read.search(text), f"{name} reads the environment"


def test_every_variable_is_documented_in_the_operations_guide_and_the_env_example() -> None:
    code = read_by_the_code()
    guide = set(re.findall(r"`(" + VARIABLE[2:-2] + r")`", OPERATIONS.read_text()))
    example = set(re.findall(VARIABLE, ENV_EXAMPLE.read_text()))
    assert code - guide == set(), "missing from docs/operations.md"
    assert code - example == set(), "missing from .env.example"
    assert guide - code == LAUNCHER_ONLY, "documented in docs/operations.md but read by nothing"
    assert example - code == LAUNCHER_ONLY, "in .env.example but read by nothing"
    launchers = "".join((ROOT / p).read_text() for p in ("docker-compose.yml", "scripts/run.py"))
    assert all(name in launchers for name in LAUNCHER_ONLY)


def _documented_defaults() -> dict[str, str | None]:
    """Variable → default, from the configuration table of docs/operations.md."""
    found: dict[str, str | None] = {}
    for row in re.findall(r"^\| (`LEDGER_.*?) \| (.*?) \|", OPERATIONS.read_text(), re.M):
        names = re.findall(r"`(LEDGER_[A-Z_]+)`", row[0])
        defaults = [d.strip() for d in row[1].split(", ")]
        defaults = defaults * len(names) if defaults == ["none"] else defaults
        assert len(names) == len(defaults), row
        for name, default in zip(names, defaults, strict=True):
            quoted = re.match(r"`([^`]*)`", default)
            if default == "none":
                found[name] = None
            elif quoted and not re.search(r"[$<]", quoted.group(1)):
                found[name] = quoted.group(1)
    return found


def _shown(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_the_documented_defaults_are_the_defaults() -> None:
    defaults = Settings.from_env({})
    documented = _documented_defaults()
    assert len(documented) >= 25
    for name, default in documented.items():
        value = getattr(defaults, name.removeprefix("LEDGER_").lower())
        assert _shown(value) == default, f"{name}: documented {default!r}, really {value!r}"
