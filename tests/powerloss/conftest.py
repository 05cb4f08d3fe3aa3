"""The power-loss file system as a fixture; every test here is marked ``faults``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.powerloss.mount import PowerLossMount, unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``faults`` (``-m faults`` runs them with the others)."""
    for item in items:
        if "tests/powerloss/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def powerloss(tmp_path: Path) -> Iterator[PowerLossMount]:
    """A mounted power-loss file system over a fresh disk; unmounted however the test ends."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"no power-loss file system: {reason}")
    mount = PowerLossMount(tmp_path / "disk", tmp_path / "mnt")
    try:
        mount.start()
        yield mount
    finally:
        mount.stop()
