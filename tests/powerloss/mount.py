"""Drive the power-loss file system from a test: mount, count syncs, crash, reboot."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def unavailable() -> str | None:
    """Why the power-loss file system cannot run here, or None if it can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (apt-get install fuse3)"
    try:
        import pyfuse3  # noqa: F401
    except ImportError as exc:
        return f"pyfuse3 is not importable ({exc}); it builds against libfuse3-dev"
    return None


class PowerLossMount:
    """``lazyfs`` over ``backing`` at ``mountpoint``, in its own process.

    ``start`` mounts; ``arm(n)`` makes the nth sync point (since ``reset``) lose power;
    ``crash()`` loses it now; ``reboot()`` unmounts (keeping only what survived when
    the power went, everything otherwise) and mounts the disk again.
    """

    def __init__(self, backing: Path, mountpoint: Path) -> None:
        self.backing, self.mountpoint = backing, mountpoint
        self.process: subprocess.Popen[str] | None = None
        backing.mkdir(parents=True, exist_ok=True)
        mountpoint.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 30.0) -> None:
        """Mount and wait until the file system answers."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.powerloss.lazyfs", str(self.backing),
             str(self.mountpoint)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self._answer(timeout)
        wait_until(lambda: os.path.ismount(self.mountpoint), timeout, f"{self.mountpoint} mounted")

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"lazyfs did not answer (exit code {self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"lazyfs: {answer['error']}")
        return answer

    def command(self, cmd: str, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.process.stdin.flush()
        return self._answer(timeout)

    def syncs(self) -> list[tuple[str, str]]:
        """The sync points since the last reset: ``(path on the mount, kind)``."""
        return [(path, kind) for path, kind in self.command("status")["syncs"]]

    @property
    def powered(self) -> bool:
        """Whether the power is still on."""
        return bool(self.command("status")["powered"])

    def reset(self) -> None:
        """Forget the sync points counted so far and disarm."""
        self.command("reset")

    def sync(self) -> None:
        """Make everything durable, as ``sync(2)`` (no sync point counted)."""
        self.command("sync")

    def arm(self, at: int, mode: str = "drop") -> None:
        """The ``at``-th sync point since the reset loses power (``drop``, ``torn``,
        ``random:SEED``)."""
        name, _, seed = mode.partition(":")
        self.command("arm", at=at, mode=name, seed=int(seed or 0))

    def crash(self, mode: str = "drop", seed: int = 0) -> None:
        """Lose power now."""
        self.command("crash", mode=mode, seed=seed)

    def stop(self) -> None:
        """Unmount (writing the surviving disk into ``backing``) and end the process."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.poll() is None and process.stdin is not None:
                process.stdin.write(json.dumps({"cmd": "unmount"}) + "\n")
                process.stdin.flush()
                process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGUSR1)  # its threads' stacks, on stderr
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)  # (it will not exit: time to write them)
                process.kill()
                process.wait(timeout=30)
            subprocess.run(
                ["fusermount3", "-u", "-z", str(self.mountpoint)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    def reboot(self, image: Path | None = None, timeout: float = 60.0) -> None:
        """Unmount what survived and mount it again (close every file on it first).

        With ``image``, boot a copy of that directory instead (an image saved earlier).
        """
        self.command("reboot", timeout, **({"image": str(image)} if image else {}))
        wait_until(lambda: os.path.ismount(self.mountpoint), timeout, f"{self.mountpoint} mounted")

    def __enter__(self) -> PowerLossMount:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
