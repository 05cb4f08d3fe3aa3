"""The body of scripts/run: initialise, load the example on first run, start, summarise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "claimledger")
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"


def claimledger(*args: str, capture: bool = False) -> str:
    """Run one CLI command; stop with its message if it fails."""
    result = subprocess.run(
        [CLI, *args], cwd=ROOT, text=True, capture_output=capture, check=False
    )
    if result.returncode != 0:
        sys.exit(f"claimledger {' '.join(args)} failed" + (f": {result.stderr}" if capture else ""))
    return result.stdout or ""


def main() -> None:
    """Initialise the ledger, import the example story once, print a summary."""
    os.chdir(ROOT)
    claimledger("init")
    print("› " + claimledger("import", "--if-empty", str(EXAMPLE), capture=True).strip())
    print()
    claimledger("claims")


if __name__ == "__main__":
    main()
