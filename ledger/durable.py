"""Files that survive a power loss: written, synced, renamed into place, directory synced."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def sync_directory(directory: str | Path) -> None:
    """Make the names created or renamed in ``directory`` durable (a file's fsync does not)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(directory: str | Path, mode: int = 0o777) -> None:
    """``mkdir -p`` whose new directories survive a power loss (each parent synced)."""
    missing: list[Path] = []
    current = Path(directory).absolute()
    while not current.exists():
        missing.append(current)
        current = current.parent
    for new in reversed(missing):
        new.mkdir(mode=mode, exist_ok=True)
        sync_directory(new.parent)


def write_atomically(path: str | Path, data: bytes, *, prefix: str = ".tmp-") -> None:
    """Replace ``path`` with ``data``: after a crash it holds the old bytes or the new, whole.

    The new bytes are synced before the rename and the directory after it, so an
    acknowledged save is not taken back by a power loss (without the first sync the
    file could come back empty; without the second, the old one).
    """
    target = Path(path)
    make_directories(target.parent)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=prefix)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_directory(target.parent)
