"""Counts of generated hostile-input cases, printed in pytest's terminal summary.

The fuzzers and schemathesis call ``record(kind)`` once per generated case; the summary
(``tests/conftest.py``) prints every kind and the total, the figure docs/reliability.md
quotes.
"""

from __future__ import annotations

from collections import Counter

#: generated cases by input class, for this pytest run
CASES: Counter[str] = Counter()


def record(kind: str, count: int = 1) -> None:
    """Count ``count`` generated cases of input class ``kind``."""
    CASES[kind] += count
