"""docs/operations.md: its backup commands run as written, and every variable is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"


def test_the_backup_commands_run_as_written(tmp_path: Path) -> None:
    text = DOC.read_text()
    section = text.split("<!-- operations:start -->")[1].split("<!-- operations:end -->")[0]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL))
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", LEDGER_DATA_DIR=str(tmp_path / "var"))
    for command in (["init"], ["import", str(EXAMPLE)]):
        subprocess.run([str(bin_dir / "claimledger"), *command], cwd=tmp_path, env=env,
                       check=True, capture_output=True)
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "backup.ndjson").read_bytes().count(b"\n") == 18


def test_every_ledger_variable_the_code_reads_is_documented() -> None:
    code = "\n".join(p.read_text() for d in ("api", "workers", "ledger")
                     for p in (ROOT / d).rglob("*.py"))
    used = set(re.findall(r"\bLEDGER_[A-Z_]+[A-Z]\b", code)) - {"LEDGER_SETTINGS"}
    documented = set(re.findall(r"`(LEDGER_[A-Z_]+)`", DOC.read_text()))
    assert used <= documented, f"undocumented: {sorted(used - documented)}"
