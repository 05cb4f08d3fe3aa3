"""Every command the docs show is run by a test, as written, or allow-listed with a reason.

The commands are read from the Markdown itself (shell blocks, untagged blocks that start
with a command, inline `claimledger …`/`scripts/…`/`curl …` spans), so a doc edit that
breaks a command, or adds one, breaks this module. Only placeholders are substituted:
FILE, CLAIM_ID, EVENT_ID, URL, KEY, N, R, ports, the example URL and key, and the
PostgreSQL URL.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest

from ledger import checkpoint as cp
from ledger.store import open_store
from tests.support.net import free_port
from tests.support.paths import EXAMPLE, ROOT
from tests.support.postgres import POSTGRES_ENV, REQUIRE_POSTGRES_ENV, with_schema
from tests.support.redis_server import RedisServer
from tests.support.server import create_token, ledger_env
from tests.support.waiting import wait_until
from tests.support.workers import FAST

BIN = Path(sys.executable).parent
DOCS = ["README.md", "CONTRIBUTING.md"] + [
    f"docs/{name}.md" for name in (
        "index", "quickstart", "architecture", "events", "api", "auditing", "operations",
        "desk", "benchmarks", "reliability",
    )
]
WORDS = ("claimledger ", ".venv/bin/", "scripts/", ".ci/run", "curl ", "docker ", "python ",
         "pip ", "apt-get ", "playwright ", "gunicorn ", "ruff ", "mypy")
SHELLS = ("sh", "bash", "console", "shell")
#: a run of the suite itself (scripts/test or pytest, perhaps in a loop) on the tests it names
SUITE = re.compile(r"^(?:for \w+ in \$\(seq \d+\); do )?(?:[A-Z_]+=\S+\s+)*"
                   r"(?:scripts/test|python -m pytest)\b")
#: marked regions whose commands another test runs as written
REGIONS = {
    "walkthrough": "tests/e2e/test_api_docs.py",
    "quickstart": "tests/e2e/test_scripts_run.py",
    "operations": "tests/e2e/test_operations_doc.py",
    "auditing_go": "tests/e2e/test_auditing_go.py",
    "replay": "tests/e2e/test_cli_ledger.py",
}


@dataclass(frozen=True)
class Shown:
    """One command as a doc shows it."""

    doc: str
    text: str
    region: str | None

    @property
    def key(self) -> str:
        """The command without the venv prefix, comments or spacing differences."""
        return normalise(self.text)


def normalise(text: str) -> str:
    """``text`` as compared between docs and tests."""
    text = text.replace(".venv/bin/", "")
    return " ".join(text.split())


def _logical_lines(body: str) -> Iterator[str]:
    pending = ""
    for raw in body.splitlines():
        line = re.sub(r"^\$ ", "", raw) if not pending else raw
        line = re.sub(r"\s+#\s.*$", "", line)
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.endswith("\\"):
            continue
        try:
            shlex.split(pending)
        except ValueError:  # an open quote: the command goes on
            continue
        yield pending
        pending = ""
    assert not pending, f"unfinished command: {pending}"


def _is_command(text: str) -> bool:
    return re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", text).startswith(WORDS)


def extract(doc: str) -> list[Shown]:
    """Every command ``doc`` shows, in order."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    regions = [(m.start(), m.end(), m.group(1)) for m in re.finditer(
        r"<!-- (\w+):start -->.*?<!-- \1:end -->", text, re.S)]

    def region(at: int) -> str | None:
        return next((name for start, end, name in regions if start <= at < end), None)

    found: list[tuple[int, Shown]] = []
    fences = list(re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S))
    for fence in fences:
        lang, body = fence.group(1), fence.group(2)
        if lang in SHELLS or (not lang and body.lstrip().startswith(WORDS)):
            found += [(fence.start(), Shown(doc, line, region(fence.start())))
                      for line in _logical_lines(body)]
    prose = text
    for fence in fences:
        prose = prose[:fence.start()] + " " * len(fence.group(0)) + prose[fence.end():]
    for span in re.finditer(r"`([^`]+)`", prose):
        inline = " ".join(span.group(1).split())
        if "\n\n" not in span.group(1) and _is_command(inline):
            found.append((span.start(), Shown(doc, inline, region(span.start()))))
    return [shown for _, shown in sorted(found, key=lambda pair: pair[0])]


def shown_in(doc: str, text: str) -> str:
    """``text``, after checking ``doc`` still shows it."""
    assert text in [s.text for s in extract(doc)], f"{doc} no longer shows `{text}`"
    return text


def block_after(doc: str, heading: str) -> list[str]:
    """The commands of the first shell block after ``heading``."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    body = re.search(r"^```sh\n(.*?)^```", section, re.M | re.S)
    assert body, f"no shell block after {heading!r} in {doc}"
    return list(_logical_lines(body.group(1)))


def blocks_after_marker(doc: str, marker: str) -> list[str]:
    """The shell blocks after ``marker``, each as one script."""
    text = (ROOT / doc).read_text(encoding="utf-8").split(marker, 1)[1]
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


# --- what runs where ------------------------------------------------------------------

README_CLI = block_after("README.md", "## Command line")
API_VIEWS_BLOCKS = blocks_after_marker("docs/api.md", "<!-- walkthrough:end -->")
#: long-running serve variants: each is started, must answer /healthz, and is stopped
SERVE_VARIANTS = [
    ("docs/operations.md", "claimledger serve --host 0.0.0.0 --port 8000 --workers 4 --threads 8"),
    ("docs/desk.md", "claimledger serve --threads 8"),
    ("docs/api.md", "claimledger serve [--host 127.0.0.1] [--port 8000] [--workers 2]"
                    " [--threads 1] [--timeout 30] [--no-access-log]"),
]
#: one-shot commands shown inline, run in this order against the shared deployment
INLINE = [
    ("docs/operations.md", "claimledger init"),
    ("docs/operations.md", "claimledger status"),
    ("docs/api.md", "claimledger status --json"),
    ("docs/desk.md", "claimledger tokens create --name N --role R"),
    ("docs/desk.md", "claimledger export --format claimreview"),
    ("docs/events.md", "claimledger export"),
    ("docs/events.md", "claimledger import FILE"),
    ("docs/operations.md", "claimledger rebuild"),
    ("docs/operations.md", "claimledger checkpoint"),
    ("docs/auditing.md", "claimledger audit"),
    ("docs/operations.md", 'claimledger redact EVENT_ID --reason "…"'),
]
AUDITING_VERIFY = next(s.text for s in extract("docs/auditing.md")
                       if s.text.startswith("claimledger verify --url"))
MIGRATION = block_after("docs/operations.md", "## Migrating SQLite → PostgreSQL")

#: commands no test here runs, why, and where they are checked instead
ALLOWED = {
    "scripts/run": "starts everything and waits for Ctrl-C: tests/e2e/test_scripts_run.py runs"
                   " it end to end, twice, with and without redis-server on PATH",
    "scripts/test": "the suite itself (running it here would recurse); CI runs it via .ci/run",
    "scripts/test -- -k fold -x": "the suite itself, with pytest arguments",
    "scripts/test --long": "the suite itself, with the long fault-injection runs",
    "LEDGER_TEST_JOBS=0 scripts/test": "the suite itself, in one process",
    "LEDGER_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test scripts/test":
        "the suite itself, as .ci/run calls it",
    ".ci/run": "CI's entry point: starts PostgreSQL and calls scripts/test",
    ".venv/bin/ruff check .": "scripts/test runs it first",
    ".venv/bin/mypy": "scripts/test runs it second",
    "scripts/bench --quick --json out.json": "every group at small sizes (minutes each); its"
                                             " flags are checked below",
    "scripts/bench": "about 30 minutes; performance is measured, never asserted",
    "python -m bench.<group>": "a pattern, not a command; each group is part of scripts/bench",
    "LEDGER_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.run"
    " --json var/bench-full.json": "the full harness run behind docs/benchmarks.md (30 min)",
    "docker compose up -d": "Docker does not run here: tests/unit/test_deployment.py checks"
                            " docker-compose.yml and the Dockerfile",
    "apt-get install chromium": ".ci/run installs it; tests/browser needs it",
    "playwright install": "shown as what never to run",
    "pip install rfc8785": "installs a package for the reader's own script; the project depends"
                           " on rfc8785, and test_cli_ledger.py recomputes leaves with it",
    "gunicorn -c python:api.gunicorn_conf api.wsgi:app": "what serve becomes"
        " (api/cli/serve.py); every serve below runs it",
    "claimledger verify --token/--key": "options named in the configuration table",
    "claimledger redact EVENT_ID --purge-only": "needs a redacted event and Redis:"
        " tests/e2e/test_redaction.py runs it after a redact that could not reach Redis",
    "python -m bench.proofs": "a benchmark group (minutes); part of scripts/bench",
    "python -m bench.append": "a benchmark group (seconds); part of scripts/bench",
    "claimledger serve --workers 2": "how bench/http.py serves the API; the serve variants"
                                     " above start for real",
    "python -m bench.profile append-1|append-batch|http-append":
        "py-spy profiles (a minute each, needs the bench extra and ptrace rights); measured,"
        " never asserted",
    "python -m bench.views": "a benchmark group (minutes); part of scripts/bench",
    "python -m bench.links": "a benchmark group (minutes); part of scripts/bench",
    "python -m bench.links --postgres postgresql://postgres@127.0.0.1:5432/test":
        "the links group on both backends, full size (minutes); measured, never asserted",
    "python -m bench.run --quick --only links --postgres postgresql://postgres@127.0.0.1:5432/test":
        "the links group through the harness on both backends (minutes)",
    "python -m bench.views --quick --only rebuild": "the views group's rebuild alone (minutes),"
        " behind the issue-19 rebuild figures; measured, never asserted",
    "python -m bench.replay_cost write FILE": "writes a synthetic log's envelopes for the"
        " callgrind count of a replay's instructions; measured, never asserted",
    "scripts/bench soak --json soak.json": "the soak (10 minutes by default):"
        " tests/e2e/test_bench_soak.py runs it for a few seconds and checks its report",
    "python -m bench.soak": "what scripts/bench soak runs (the soak above)",
    "python -m bench.jsontext --quick": "the strict JSON parser beside json.loads (seconds);"
                                        " measured, never asserted",
    "scripts/pypi_advisories_reachable.py": "scripts/test runs it under CI, before pip-audit",
    "claimledger tokens create": "the command's name in prose; desk.md's"
                                 " `tokens create --name N --role R` runs below",
    "claimledger tokens revoke": "the command's name in prose (benchmarks.md: why the token"
                                 " lookup is not cached); the CLI tests revoke tokens",
    "python -m bench.run --quick --only http": "the HTTP group through the harness, small"
                                               " (minutes); measured, never asserted",
    "python -m bench.run --only http": "the HTTP group through the harness, full size"
                                       " (minutes); measured, never asserted",
    "claimledger redact": "the command's name in prose; operations.md's"
                          " `redact EVENT_ID --reason` runs below",
    "python -m bench.outage": "a benchmark group (seconds); part of scripts/bench; measured,"
                              " never asserted",
    "python -m bench.run --only outage --json /tmp/outage.json": "the outage group through the"
        " harness (seconds), behind the figures in docs/benchmarks.md",
    "python -m bench.verify": "a benchmark group (a minute, starts a server); part of"
                              " scripts/bench",
    "python -m bench.verify --quick": "the same group, small; its flag is bench/verify.py's",
    "python -m bench.witness": "a benchmark group (seconds, starts a witness); part of"
                               " scripts/bench",
    "python -m bench.run --quick --only witness": "the witness group of the harness, behind"
        " the Witnessing figures; performance is measured, never asserted",
    "python -m bench.newsroom": "a benchmark group (minutes); part of scripts/bench",
    "python -m bench.newsroom --quick": "a benchmark group (2 minutes); part of scripts/bench",
    "python -m bench.run --only newsroom": "the same group through the harness (minutes)",
    "python -m bench.run --only append": "the append group through the harness (minutes)",
    "python -m bench.run --quick --only append": "the append group through the harness,"
                                                 " small (a minute)",
    "python -m bench.scale_out": "a benchmark group (3 minutes, needs PostgreSQL); part of"
                                 " scripts/bench",
    "python -m bench.scale_out --quick": "the same group, 8 s a configuration (2 minutes,"
                                         " needs PostgreSQL)",
    "LEDGER_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.run"
    " --only scale_out --json /tmp/scale-out-full.json": "the scale-out group through the"
        " harness (3 minutes, needs PostgreSQL), behind the figures in docs/benchmarks.md",
    "LEDGER_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.run"
    " --only append,replay,http --json /tmp/bench-ratios.json": "the groups of the harness"
        " behind the restated ratios in docs/benchmarks.md (15-30 minutes on a shared machine)",
    "python -m bench.pages": "a benchmark group (minutes: it builds a 1M-event log and its"
                             " views); part of scripts/bench",
    "python -m bench.pages --quick": "the same group, smaller (minutes)",
    "python -m bench.run --only pages --json /tmp/pages-full.json": "the pages group through"
        " the harness (minutes), behind the figures in docs/benchmarks.md",
    "claimledger rotate-key": "changes the deployment's key under its running serves:"
        " tests/integration/test_log_identity.py runs it as written on SQLite and PostgreSQL"
        " (then audit, serve, init and checkpoint around it) and test_log_verify.py verifies"
        " across it over HTTP",
    "claimledger worker": "run below as README's `claimledger worker` (the same command)",
    "claimledger serve": "the command's name in prose; README's `serve --port 8000` and three"
                         " more variants run below, LEDGER_PORT is checked by"
                         " test_configuration.py",
    "claimledger import": "the command's name in prose; `import FILE` runs below",
    "claimledger verify": "the command's name in prose; its full forms run below",
    "claimledger show": "the command's name in prose; README's `show CLAIM_ID --valid-at`"
                        " runs below",
    'claimledger verify --url "$LEDGER_PUBLIC_URL"': "tests/e2e/test_scripts_run.py runs it"
        " in a shell holding only the export lines scripts/run prints",
    "claimledger verify --all": "an option named in prose; auditing.md's full verify command"
                                " runs below with --all",
    "claimledger witness key --key var/witness.key --name witness.example.org/w1":
        "tests/e2e/test_witness_e2e.py runs `witness key` with --key and --name",
    "claimledger witness serve --key var/witness.key --name witness.example.org/w1 \\"
    " --db var/witness.db --port 8100 \\ --log 'claimledger.local/log+3b1a9c0e+AWx0...'":
        "elided key; tests/e2e/test_witness_e2e.py runs `witness serve` with every one of"
        " these options against a real ledger",
    "claimledger witness serve": "the command's name in prose; its full form is run by"
                                 " tests/e2e/test_witness_e2e.py",
    "claimledger witness key/serve": "the commands' names in the configuration table",
    "claimledger verify --url https://ledger.example.org --key 'claimledger.local/log+…'"
    " \\ --token \"$AUDITOR_TOKEN\" --state ~/.claimledger-audit.note \\"
    " --witness 'witness.example.org/w1+…' --witness 'press-council.example/w+…'"
    " --min-witnesses 1": "elided keys; tests/e2e/test_witness_e2e.py runs verify --witness"
                          " (one and two keys) against a witnessed ledger and a fork",
    "python -m bench.search --quick --postgres postgresql://postgres@127.0.0.1:5432/test":
        "a benchmark (minutes: it builds a 100,000-event log on each backend); measured,"
        " never asserted",
    "python -m bench.run --quick --only search": "the search benchmark through the harness"
        " (minutes); measured, never asserted",
    "python -m bench.search --claims 20000 --lag-seconds 10 --only sqlite": "the search"
        " benchmark at 21,000 claims, SQLite only (an hour on a loaded machine); measured,"
        " never asserted",
    "python -m bench.search --claims 20000 --lag-seconds 10 --only postgres --postgres"
    " postgresql://postgres@127.0.0.1:5432/test": "the same on PostgreSQL; measured, never"
        " asserted",
    "python -m bench.search --postgres postgresql://postgres@127.0.0.1:5432/test":
        "the full search benchmark (a 1M-event log on each backend); measured, never"
        " asserted",
    "python -m bench.search --claims 10000 --lag-seconds 10 --postgres"
    " postgresql://postgres@127.0.0.1:5432/test": "the search benchmark at the quick size"
        " with the lag probes, both backends (half an hour on a loaded machine); measured,"
        " never asserted",
    "python -m bench.search --only sqlite": "the full search benchmark on SQLite only (a"
        " 1M-event log; over half an hour on a loaded machine); measured, never asserted",
    "python -m bench.search --index-only --postgres postgresql://postgres@127.0.0.1:5432/test":
        "the search query figures at 100,000 claims without a log (minutes); measured,"
        " never asserted",
    "python -m bench.search --index-only --only postgres --postgres"
    " postgresql://postgres@127.0.0.1:5432/test": "the same on PostgreSQL only (minutes);"
        " measured, never asserted",
    "claimledger import --dry-run FILE": "tests/e2e/test_cli_dry_run.py runs it on a file"
        " with a near-duplicate of the example story's claim and checks what it lists",
    "claimledger show --as-of … --valid-at …": "elided arguments; README's `show CLAIM_ID"
        " --valid-at` runs below and test_cli_ledger.py runs show --as-of",
}


def run_here() -> set[str]:
    """The commands the tests of this module run."""
    lines = [*README_CLI, AUDITING_VERIFY, *MIGRATION]
    lines += [text for _, text in SERVE_VARIANTS + INLINE]
    lines += [line for block in API_VIEWS_BLOCKS for line in _logical_lines(block)]
    return {normalise(line) for line in lines}


def named_tests(key: str) -> list[str] | None:
    """The test paths a run of the suite names (None when ``key`` is no such run)."""
    if not SUITE.match(key):
        return None
    return [path.split("::")[0] for path in re.findall(r"\btests/[\w./:-]+", key)]


def test_every_command_in_the_docs_is_run_or_allow_listed() -> None:
    shown = [s for doc in DOCS for s in extract(doc)]
    assert len(shown) > 80
    suite_runs = {s.key: named_tests(s.key) for s in shown}
    gone = sorted({f"{s.doc}: {path}" for s in shown for path in suite_runs[s.key] or []
                   if not (ROOT / path).exists()})
    assert not gone, "the docs run tests that no longer exist:\n" + "\n".join(gone)
    run_elsewhere = {s.key for s in shown if s.region in REGIONS}
    run_elsewhere |= {key for key, paths in suite_runs.items() if paths is not None}
    covered = run_here() | run_elsewhere | {normalise(k) for k in ALLOWED}
    missing = sorted({f"{s.doc}: {s.text}" for s in shown
                      if s.region not in REGIONS and s.key not in covered})
    assert not missing, "run these or allow-list them with a reason:\n" + "\n".join(missing)
    keys = {s.key for s in shown}
    stale = sorted(k for k in ALLOWED if normalise(k) not in keys)
    assert not stale, f"allow-listed but no longer shown: {stale}"


def test_the_marked_regions_are_run_by_the_tests_that_claim_them() -> None:
    for name, test in REGIONS.items():
        assert f"<!-- {name}:start -->" in (ROOT / test).read_text(), test
    regions = {s.region for doc in DOCS for s in extract(doc)} - {None}
    assert regions <= set(REGIONS), f"a region nobody runs: {regions - set(REGIONS)}"


def test_the_benchmark_commands_use_flags_the_harness_has() -> None:
    harness = (ROOT / "bench" / "run.py").read_text()
    for command in ALLOWED:
        if "bench" in command:
            # the harness's flags, or those of the group module the command runs
            group = re.search(r"python -m bench\.(\w+)", command)
            module = ROOT / "bench" / f"{group[1] if group else 'run'}.py"
            source = harness + (module.read_text() if module.exists() else "")
            for flag in re.findall(r"\s(--[a-z-]+)", command):
                assert f'"{flag}"' in source, f"{command}: bench/run.py has no {flag}"


# --- running them -----------------------------------------------------------------------


class Deployment:
    """A SQLite ledger, a private Redis, and the long-running commands the docs start."""

    def __init__(self, directory: Path, redis_url: str) -> None:
        self.directory = directory
        self.data = directory / "var"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = ledger_env(self.data, LEDGER_REDIS_URL=redis_url,
                              LEDGER_CHECKPOINT_INTERVAL="0", **FAST)
        self.env["PATH"] = f"{BIN}:{self.env['PATH']}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.tokens: dict[str, str] = {}

    def first(self, field: str) -> str:
        """``claim_id`` or ``id`` of the log's first event."""
        store = open_store(self.env["LEDGER_DATABASE_URL"])
        try:
            return str(getattr(store.read_all(after=0, limit=1)[0], field))
        finally:
            store.close()

    def key(self) -> str:
        """The log's verifier key, from its signing key."""
        signing = cp.load_signing_key(self.data / "signing.key")
        return cp.verifier_key("claimledger.local/log", signing)

    def substitute(self, text: str, port: int | None = None) -> str:
        """``text`` with its placeholders filled in."""
        text = text.replace(".venv/bin/", f"{BIN}/")
        text = re.sub(r"\[(--[^\]]*)\]", r"\1", text)  # a synopsis's optional flags
        text = re.sub(r"\bFILE(\.ndjson)?\b", str(EXAMPLE), text)
        text = text.replace("--port 8000", f"--port {port or self.port}")
        text = text.replace("--url URL", f"--url {self.url}")
        text = text.replace("https://ledger.example.org", self.url)
        text = text.replace("--name N --role R", "--name docs-desk --role editor")
        text = text.replace("~/.claimledger-audit.json", str(self.directory / "audit.json"))
        for placeholder, field in (("CLAIM_ID", "claim_id"), ("EVENT_ID", "id"),
                                   ("0192f7a4-1c3e-7b6a-9d4e-5f0a1b2c3d4e", "claim_id")):
            if placeholder in text:
                text = text.replace(placeholder, self.first(field))
        if "KEY" in text or "claimledger.local/log+" in text:
            key = shlex.quote(self.key())
            text = re.sub(r"'claimledger\.local/log\+[^']*'", key, text.replace("KEY", key))
        return text

    def run(self, text: str, prelude: str = "", **env: str) -> str:
        """Run one shown command (or block) to completion; its stdout."""
        script = "set -euo pipefail\n" + prelude + self.substitute(text)
        started = time.monotonic()
        result = subprocess.run(["bash", "-c", script], cwd=self.directory,
                                env={**self.env, **env}, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, f"{text}\n{result.stdout}\n{result.stderr}"
        print(f"{time.monotonic() - started:5.1f}s {normalise(text)[:70]}")
        return result.stdout

    def start(self, text: str, port: int | None = None) -> subprocess.Popen[bytes]:
        """Start a long-running shown command in the background."""
        log = (self.directory / f"bg-{len(self.processes)}.log").open("wb")
        env = {**self.env, "LEDGER_PORT": str(port or self.port)}
        process = subprocess.Popen(["bash", "-c", "exec " + self.substitute(text, port)],
                                   cwd=self.directory, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def answers(self, url: str, process: subprocess.Popen[bytes], path: str = "/readyz",
                **headers: str) -> bool:
        """Whether ``url + path`` answers 200 (fails if the process died)."""
        assert process.poll() is None, f"exited {process.returncode}: {self.logs()}"
        try:
            return httpx.get(url + path, headers=headers, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def logs(self) -> str:
        """Every background process's output."""
        return "\n".join(p.read_text() for p in sorted(self.directory.glob("bg-*.log")))

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM, then SIGKILL to the group if it lingers."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(10)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A deployment whose background processes are stopped afterwards."""
    with RedisServer(tmp_path / "redis") as redis:
        running = Deployment(tmp_path, redis.url)
        try:
            yield running
        finally:
            for process in running.processes:
                running.stop(process)


def test_the_readme_and_guides_commands_run_as_shown(deployment: Deployment) -> None:
    d = deployment
    d.run(README_CLI[0])  # init
    for name, role in (("docs-reader", "reader"), ("docs-editor", "editor"),
                       ("docs-auditor", "auditor")):
        d.tokens[role] = create_token(d.env, name, role)
    d.env["LEDGER_TOKEN"] = d.tokens["auditor"]  # verify's documented default for --token
    for line in README_CLI[1:]:
        key = normalise(line)
        if key.startswith("claimledger serve"):
            server = d.start(line)
            wait_until(partial(d.answers, d.url, server), 60, "the API to answer /readyz")
        elif key == "claimledger worker":
            worker = d.start(line)
            auth = {"Authorization": f"Bearer {d.tokens['reader']}"}
            wait_until(partial(d.answers, d.url, worker, "/v1/claims?limit=1", **auth), 60,
                       "the worker to build the views")
        elif key.startswith("claimledger restore"):  # "into an empty store"
            empty = d.directory / "restored"
            d.run(line, LEDGER_DATA_DIR=str(empty),
                  LEDGER_DATABASE_URL=f"sqlite:///{empty / 'ledger.db'}")
        else:
            out = d.run(line)
            if key.startswith("claimledger claims"):
                assert len(out.strip().splitlines()) >= 6, out
            if key.startswith("claimledger verify"):
                assert out.strip().splitlines()[-1].startswith("checked: "), out
    assert (d.directory / "backup.ndjson").read_bytes().count(b"\n") == 18

    prelude = (f"API={d.url}\nEDITOR={d.tokens['editor']}\nREADER={d.tokens['reader']}\n"
               f"CLAIM={d.first('claim_id')}\n")  # the walkthrough's variables
    outputs = [d.run(block, prelude) for block in API_VIEWS_BLOCKS]
    assert '"ids": [' in outputs[0]
    assert '"status": "' in outputs[1]
    assert '"lag": ' in outputs[1]

    for doc, text in INLINE:
        out = d.run(shown_in(doc, text))
        if "tokens create" in text:
            assert out.startswith("clt_")
        if "--format claimreview" in text:
            assert out.lstrip().startswith("[")
    audited = d.run(AUDITING_VERIFY, AUDITOR_TOKEN=d.tokens["auditor"]).strip().splitlines()
    assert audited[-1].startswith("checked: "), audited
    assert any(line.startswith("replay: ") for line in audited), audited

    probes = []
    for doc, text in SERVE_VARIANTS:
        port = free_port()
        probes.append((f"http://127.0.0.1:{port}", d.start(shown_in(doc, text), port)))
    for url, process in probes:
        wait_until(partial(d.answers, url, process, "/healthz"), 90, f"{url} to answer")
        d.stop(process)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        if os.environ.get(REQUIRE_POSTGRES_ENV) == "1":
            pytest.fail(f"{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_ENV} is not set")
        pytest.skip(f"{POSTGRES_ENV} is not set")
    import psycopg

    schema = f"docs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
def test_the_migration_to_postgresql_runs_as_shown(tmp_path: Path, postgres_url: str) -> None:
    env = ledger_env(tmp_path / "var")
    env["PATH"] = f"{BIN}:{env['PATH']}"
    for args in (["init"], ["import", str(EXAMPLE)]):
        subprocess.run([str(BIN / "claimledger"), *args], env=env, check=True,
                       capture_output=True)
    assert any("postgresql://ledger@db/ledger" in line for line in MIGRATION)
    script = "\n".join(MIGRATION).replace("postgresql://ledger@db/ledger",
                                          shlex.quote(postgres_url))
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    again = subprocess.run([str(BIN / "claimledger"), "export"], capture_output=True,
                           env={**env, "LEDGER_DATABASE_URL": postgres_url}, check=True)
    assert again.stdout == (tmp_path / "ledger.ndjson").read_bytes()
