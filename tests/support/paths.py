"""Where the repository and its example data are."""

from __future__ import annotations

from pathlib import Path

#: the repository's root
ROOT = Path(__file__).resolve().parents[2]
#: the example story the docs import
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"
