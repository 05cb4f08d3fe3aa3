"""Test-only clock for a server process: ``ledger.timeutil.utcnow`` set back by the number
of seconds written in the file ``$LEDGER_TEST_CLOCK_FILE`` (re-read on every call).

Put this directory on ``PYTHONPATH``: Python imports ``sitecustomize`` at start-up, before
anything has bound ``utcnow``, and gunicorn's workers inherit it through fork.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

_FILE = os.environ.get("LEDGER_TEST_CLOCK_FILE")

if _FILE:
    import ledger.timeutil

    _real = ledger.timeutil.utcnow

    def _stepped() -> datetime:
        """The real time minus the offset in the clock file."""
        try:
            with open(_FILE, encoding="ascii") as handle:
                back = float(handle.read().strip() or 0)
        except OSError:
            back = 0.0
        return _real() - timedelta(seconds=back)

    ledger.timeutil.utcnow = _stepped
