"""docs/auditing.md's Go program, run as the guide shows it against a live ledger.

The region ``<!-- auditing_go:start -->`` … ``<!-- auditing_go:end -->`` holds the
command and the program: Go's ``golang.org/x/mod/sumdb/note`` opens the checkpoints,
``sumdb/tlog`` checks every inclusion proof and the consistency proof from every earlier
signed checkpoint. Needs ``go`` and Debian's ``golang-golang-x-mod-dev`` (``.ci/run``
installs both); without ``go`` on PATH the test is skipped and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger import checkpoint as cp
from tests.support.paths import ROOT
from tests.support.server import Server

from .test_verify_cli import _pinned_key, _story

REGION = ("<!-- auditing_go:start -->", "<!-- auditing_go:end -->")
GOPATH = Path("/usr/share/gocode")


def _shown() -> tuple[str, str]:
    """The shell command and the Go program the guide shows in its region."""
    text = (ROOT / "docs" / "auditing.md").read_text(encoding="utf-8")
    region = text.split(REGION[0], 1)[1].split(REGION[1], 1)[0]
    command = re.search(r"```sh\n(.*?)```", region, re.S)
    program = re.search(r"```go\n(.*?)```", region, re.S)
    assert command, "the Go region lost its command"
    assert program, "the Go region lost its program"
    return command.group(1), program.group(1)


def _go_or_skip() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed (apt install golang-go golang-golang-x-mod-dev;"
                    " .ci/run installs it)")
    if not (GOPATH / "src" / "golang.org" / "x" / "mod" / "sumdb" / "tlog").is_dir():
        pytest.skip("golang.org/x/mod is not installed (apt install golang-golang-x-mod-dev)")
    return go


def _run(
    command: str, directory: Path, server: Server, **env: str
) -> subprocess.CompletedProcess[str]:
    """The guide's command, with this server's URL and pinned key put in."""
    script = command.replace("https://ledger.example.org", server.url)
    script = re.sub(r"'claimledger\.local/log\+[^']*'", f"'{_pinned_key(server)}'", script)
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script], cwd=directory, capture_output=True,
        text=True, timeout=300, check=False,
        env={**os.environ, "GOCACHE": str(directory / "gocache"), "HOME": str(directory),
             "AUDITOR_TOKEN": server.tokens["auditor"], **env},
    )


def test_the_guides_go_program_checks_every_proof_and_catches_a_forged_key(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    _go_or_skip()
    command, program = _shown()
    (tmp_path / "main.go").write_text(program, encoding="utf-8")
    server = server_factory(workers=1, LEDGER_CHECKPOINT_INTERVAL="0")
    _story(server, claims=2, denials=2)

    passed = _run(command, tmp_path, server)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    # six appends, one checkpoint signed after each: six leaves, five earlier checkpoints
    assert passed.stdout.strip() == (
        "checked: 6 inclusion proofs, 5 consistency proofs, against size 6"
    ), passed.stdout

    other = cp.verifier_key("claimledger.local/log", cp.generate_signing_key())  # same name
    forged = _run(command.replace("LEDGER_VERIFIER_KEY='", "LEDGER_VERIFIER_KEY_X='"),
                  tmp_path, server, LEDGER_VERIFIER_KEY=other)
    assert forged.returncode == 1
    assert forged.stderr.startswith("FAILED: checkpoint: "), forged.stderr


def test_the_guides_go_program_accepts_an_empty_log(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    _go_or_skip()
    command, program = _shown()
    (tmp_path / "main.go").write_text(program, encoding="utf-8")
    server = server_factory(workers=1, LEDGER_CHECKPOINT_INTERVAL="0")
    empty = _run(command, tmp_path, server)
    assert empty.returncode == 0, empty.stdout + empty.stderr
    assert empty.stdout.strip() == "checked: size 0, the empty tree's root; no proofs exist"
