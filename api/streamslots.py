"""Per-principal limits on concurrent live feeds, shared by every worker of one server.

A principal (a token, which is also what a desk session signs in with, or the client
address of an anonymous public reader) holds at most ``LEDGER_STREAM_LIMIT`` open
streams (``/v1/events/stream`` and the desk's ``/desk/claims/{id}/events`` together).
Each slot is a file under the server's run directory, held with an exclusive
``flock`` for as long as the stream is open: workers of one gunicorn master see each
other's slots, and a worker that dies frees its slots with its file descriptors, so
no count can leak. Beyond the limit the request is answered 429 ``too-many-streams``
with ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
from pathlib import Path

from .errors import Problem

#: the environment variable the gunicorn master sets to the run directory it made
RUN_DIR_ENV = "CLAIMLEDGER_RUN_DIR"
#: seconds a refused client is told to wait (an open stream ends within LEDGER_STREAM_MAX_SECONDS)
RETRY_AFTER = 5
_fallback_lock = threading.Lock()
_fallback: dict[int, Path] = {}


def run_dir() -> Path:
    """Where slot files live: the gunicorn master's run directory, else one per process."""
    configured = os.environ.get(RUN_DIR_ENV)
    if configured:
        return Path(configured)
    with _fallback_lock:  # no master (tests, flask run): this process alone serves
        path = _fallback.get(os.getpid())
        if path is None:
            path = _fallback[os.getpid()] = Path(tempfile.mkdtemp(prefix="claimledger-run-"))
        return path


class StreamSlot:
    """One held slot; ``release`` (idempotent) frees it."""

    def __init__(self, fd: int, key: str) -> None:
        self._fd: int | None = fd
        self.key = key
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        """Whether the slot is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Free the slot (closing the file drops the lock)."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def principal_key(token_id: str | None, remote_addr: str | None) -> str:
    """Whose streams count together: the token, else the client address."""
    return f"token:{token_id}" if token_id is not None else f"addr:{remote_addr or 'unknown'}"


def try_acquire(key: str, limit: int, directory: Path | None = None) -> StreamSlot | None:
    """A free slot of ``key``'s ``limit``; None when all are held (by any worker)."""
    base = (directory or run_dir()) / "streams"
    base.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    for n in range(limit):
        path = base / f"{name}.{n}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except BaseException:
            os.close(fd)
            raise
        return StreamSlot(fd, key)
    return None


def acquire(key: str, limit: int) -> StreamSlot:
    """A slot of ``key``, or the 429 ``too-many-streams`` problem."""
    slot = try_acquire(key, limit)
    if slot is None:
        raise Problem(
            429,
            f"This client already has {limit} live streams open (LEDGER_STREAM_LIMIT);"
            " close one, or retry later.",
            slug="too-many-streams",
            headers={"Retry-After": str(RETRY_AFTER)},
        )
    return slot


def held(key: str, limit: int, directory: Path | None = None) -> int:
    """How many of ``key``'s slots are held right now (for tests and diagnostics)."""
    probes: list[StreamSlot] = []
    try:
        while (slot := try_acquire(key, limit, directory)) is not None:
            probes.append(slot)
        return limit - len(probes)
    finally:
        for slot in probes:
            slot.release()
