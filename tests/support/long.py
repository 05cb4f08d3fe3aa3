"""The suite's two sizes: CI runs each long scenario briefly, ``scripts/test --long`` long."""

from __future__ import annotations

import os

#: set by ``scripts/test --long`` (``LEDGER_TEST_LONG=1``)
LONG = os.environ.get("LEDGER_TEST_LONG") == "1"


def scaled(short: int, long: int) -> int:
    """``long`` under ``scripts/test --long``, else ``short``."""
    return long if LONG else short
