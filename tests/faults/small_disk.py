"""A small real file system to fill up or break: ext4 in a loop-mounted image file.

Mounted with ``errors=remount-ro``, so ``fail()`` (ext4's own ``trigger_fs_error``) makes
the kernel turn it read-only under open files, exactly as after a disk error; ``fill()``
and ``free()`` take all of its space with a ballast file and give it back.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

CHUNK = 1 << 20


def _run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")


class LoopFilesystem:
    """ext4 of ``size_mb`` MiB mounted on ``path`` (needs root and a loop device)."""

    def __init__(self, size_mb: int = 32) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ledger-disk-"))
        self.image = self.root / "disk.img"
        self.path = self.root / "mnt"
        self.size_mb = size_mb
        self.ballast = self.path / "ballast"

    def __enter__(self) -> LoopFilesystem:
        try:
            self.path.mkdir()
            with self.image.open("wb") as image:
                image.truncate(self.size_mb * CHUNK)
            # -m 0: no blocks reserved for root, so "full" means full for the server too
            _run("mkfs.ext4", "-q", "-F", "-m", "0", str(self.image))
            self.mount()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        return self

    def mount(self) -> None:
        """Mount the image (again)."""
        _run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.path))

    def unmount(self) -> None:
        """Unmount it (every file on it must be closed)."""
        _run("umount", str(self.path))

    def repair(self) -> None:
        """``e2fsck`` the unmounted image, as an operator would after a disk error."""
        result = subprocess.run(["e2fsck", "-f", "-y", str(self.image)], capture_output=True,
                                text=True, timeout=120, check=False)
        if result.returncode not in (0, 1):  # 1: errors were corrected
            raise RuntimeError(f"e2fsck: {result.returncode} {result.stdout}{result.stderr}")

    def device(self) -> str:
        """The loop device's name (``loop3``)."""
        for line in Path("/proc/self/mounts").read_text().splitlines():
            source, target = line.split()[:2]
            if target == str(self.path):
                return Path(source).name
        raise RuntimeError(f"{self.path} is not mounted")

    def fill(self) -> int:
        """Write a ballast file until the disk refuses another byte; its size."""
        written = 0
        with self.ballast.open("wb", buffering=0) as out:
            for size in (CHUNK, 4096, 512):
                block = b"\0" * size
                while True:
                    try:
                        written += out.write(block) or 0
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
            try:
                os.fsync(out.fileno())
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        return written

    def free(self) -> None:
        """Delete the ballast: the space is back."""
        self.ballast.unlink()

    def fail(self) -> None:
        """Report an ext4 error: with errors=remount-ro the kernel makes it read-only."""
        Path(f"/sys/fs/ext4/{self.device()}/trigger_fs_error").write_text("ledger fault test\n")

    def read_only(self) -> bool:
        """Whether the file system refuses to open a file for writing now."""
        try:
            os.close(os.open(self.path / "probe", os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            if exc.errno != errno.EROFS:
                raise
            return True
        return False

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if os.path.ismount(self.path):
                subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class HeldDisk(LoopFilesystem):
    """A ``LoopFilesystem`` whose image lies on a second one, so its writes can be held.

    Freezing the outer file system (``fsfreeze``) stalls every write the inner one sends
    to its loop device, while reads and anything needing no I/O go on.
    """

    def __init__(self, size_mb: int = 32) -> None:
        super().__init__(size_mb)
        self.outer = LoopFilesystem(size_mb + 8)

    def __enter__(self) -> HeldDisk:
        self.outer.__enter__()
        self.image = self.outer.path / "disk.img"
        try:
            super().__enter__()
        except BaseException:
            self.outer.__exit__(None, None, None)
            raise
        return self

    @contextmanager
    def failing(self) -> Iterator[None]:
        """Inside: an ext4 error has aborted the journal but not yet made it read-only.

        ext4 handles an error by aborting its journal, writing that to the disk and only
        then setting its read-only flag. With the outer file system frozen, that write
        waits, so the body runs in between. The write is let through when the body ends,
        or once the body itself waits in the kernel for that abort to finish (any journal
        transaction started now does: the ext4 error it reports waits on the first).
        """
        kmsg = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(kmsg, 0, os.SEEK_END)
        _run("fsfreeze", "-f", str(self.outer.path))
        error = threading.Thread(target=self.fail, daemon=True)
        done = threading.Event()
        thaw = threading.Thread(target=self._thaw, args=(done, threading.get_native_id()))
        try:
            error.start()
            _await_kernel_message(kmsg, f"Aborting journal on device {self.device()}-")
            if "emergency_ro" in self.options():
                raise RuntimeError("the file system turned read-only before the error's write")
            thaw.start()
            yield
        finally:
            done.set()
            if thaw.ident is not None:  # started: it thaws
                thaw.join()
            else:
                _run("fsfreeze", "-u", str(self.outer.path))
            error.join(60)
            os.close(kmsg)

    def _thaw(self, done: threading.Event, body: int) -> None:
        """Thaw the outer file system when ``done`` or thread ``body`` waits on the abort."""
        wchan = Path(f"/proc/self/task/{body}/wchan")
        deadline = time.monotonic() + 60
        while not done.wait(0.002) and time.monotonic() < deadline:
            if wchan.read_text() == "jbd2_journal_abort":
                break
        _run("fsfreeze", "-u", str(self.outer.path))

    def options(self) -> list[str]:
        """The mount options the kernel shows now (``emergency_ro`` once ext4 gave up)."""
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if fields[1] == str(self.path):
                return fields[3].split(",")
        raise RuntimeError(f"{self.path} is not mounted")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(kind, error, trace)
        finally:
            self.outer.__exit__(kind, error, trace)


def _await_kernel_message(kmsg: int, text: str, timeout: float = 30) -> None:
    """Read the kernel log from ``kmsg`` until a record contains ``text``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"the kernel did not log {text!r} within {timeout}s")
        select.select([kmsg], [], [], left)
        try:
            record = os.read(kmsg, 8192).decode("utf-8", "replace")
        except BlockingIOError:
            continue
        except BrokenPipeError:  # records overwritten before we read them: go on
            continue
        if text in record:
            return
