"""Suite-wide hooks: the generated-case counts of the hostile-input tests.

Under pytest-xdist each worker counts its own cases and hands them to the controller
when it finishes, so the summary is the whole run's either way.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Property tests assert behaviour, not speed: on a 2-core machine running the suite in three
# processes an example can take longer than hypothesis's 200 ms default, which is no failure.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

# the shared helpers are plain modules: let pytest explain their failed assertions too
pytest.register_assert_rewrite("tests.support")

from tests.support.casecount import CASES  # noqa: E402 (after the registration above)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: pass this worker's counts to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["hostile_cases"] = dict(CASES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """On the xdist controller: add a finished worker's counts."""
    CASES.update(getattr(node, "workeroutput", {}).get("hostile_cases", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many cases the fuzzers and schemathesis generated, by input class."""
    if not CASES:
        return
    terminalreporter.section("hostile input: generated cases")
    for kind, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{kind:<48} {count:>8,}")
    terminalreporter.write_line(f"{'total':<48} {sum(CASES.values()):>8,}")
