"""Fault-suite settings: CI runs each scenario briefly; ``scripts/test --long`` runs it long.

Every test here is marked ``faults``. The same scenarios run in both modes; only their
size changes, through ``tests.support.long.scaled(short, long)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.faults.small_disk import LoopFilesystem


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``faults`` (``-m faults`` runs just them)."""
    for item in items:
        if "tests/faults/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def disk() -> Iterator[LoopFilesystem]:
    """A 32 MiB ext4 file system of our own (mounting needs root and a loop device)."""
    try:
        filesystem = LoopFilesystem(32).__enter__()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"cannot mount a loop file system here: {exc}")
    try:
        yield filesystem
    finally:
        filesystem.__exit__(None, None, None)
