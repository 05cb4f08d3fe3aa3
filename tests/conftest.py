"""Suite-wide hooks: the generated-case counts of the hostile-input tests."""

from __future__ import annotations

import pytest

from tests.casecount import CASES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many cases the fuzzers and schemathesis generated, by input class."""
    if not CASES:
        return
    terminalreporter.section("hostile input: generated cases")
    for kind, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{kind:<48} {count:>8,}")
    terminalreporter.write_line(f"{'total':<48} {sum(CASES.values()):>8,}")
