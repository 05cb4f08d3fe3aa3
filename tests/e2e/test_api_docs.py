"""docs/api.md's walkthrough is run as written: every curl command in it must work."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from ledger.store import open_store
from tests.support.net import free_port
from tests.support.paths import ROOT
from tests.support.server import ledger_env

DOC = ROOT / "docs" / "api.md"


def walkthrough() -> str:
    """The ```sh blocks between the walkthrough markers, as one script."""
    text = DOC.read_text()
    section = text.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) >= 10
    return "\n".join(blocks)


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    assert shutil.which("curl"), "the walkthrough needs curl"
    assert shutil.which("jq"), "the walkthrough needs jq"
    # a shell where scripts/run's export lines were pasted: the walkthrough must not use them
    env = ledger_env(tmp_path / "scripts-run-var", LEDGER_PORT="8000",
                     LEDGER_REDIS_URL="redis://127.0.0.1:6390/0")
    del env["LEDGER_RATE_LIMIT"]  # the walkthrough runs with the defaults
    env["PYTHONPATH"] = str(ROOT)
    env["TMPDIR"] = str(tmp_path)  # where its mktemp -d makes the walkthrough's ledger
    text = walkthrough()
    assert "export LEDGER_PORT=8010" in text
    script = "set -euo pipefail\n" + text.replace("LEDGER_PORT=8010",
                                                  f"LEDGER_PORT={free_port()}")
    process = subprocess.Popen(
        ["bash", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, f"{out}\n{err}"
    assert '"status": 412' in out
    assert '"status": 422' in out
    assert '"status": "disputed"' in out
    assert "304" in out
    lines = out.splitlines()
    replays = [line for line in lines if re.fullmatch(r'\{"id":"[-0-9a-f]+","version":\d+\}', line)]
    assert len(replays) == 2
    assert replays[0] == replays[1]  # the repeated Idempotency-Key answered the same event
    assert not (tmp_path / "scripts-run-var").exists()
    (database,) = tmp_path.glob("tmp.*/ledger/ledger.db")
    store = open_store(f"sqlite:///{database}")
    try:
        example = (ROOT / "examples" / "seed-2014-09-15.ndjson").read_text().splitlines()
        assert store.head() == 6 + len([line for line in example if line.strip()])
    finally:
        store.close()
