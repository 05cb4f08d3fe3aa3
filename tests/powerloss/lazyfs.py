"""A FUSE file system that can lose power: ``python -m tests.powerloss.lazyfs BACKING MOUNT``.

In the spirit of LazyFS (the one Jepsen uses), written for our tests with ``pyfuse3``.
At mount it reads BACKING as the disk; processes on MOUNT then see every write at once,
while ``disk.Disk`` keeps apart what a sync made durable. Commands arrive on stdin, one
JSON object a line, each answered on stdout by one JSON line:

- ``{"cmd": "status"}``: ``{"syncs": [[path, kind], ...], "powered": bool}``
- ``{"cmd": "reset"}``: forget the sync points counted so far, disarm
- ``{"cmd": "arm", "at": N, "mode": "drop", "seed": 0}``: the Nth sync point (counted since the
  reset) loses the power instead of syncing; it and every later operation fail with EIO
- ``{"cmd": "sync"}``: everything durable (a ``sync(2)``), no sync point counted
- ``{"cmd": "crash", "mode": "drop" | "torn" | "random", "seed": 0}``: lose power now
- ``{"cmd": "reboot"}``: write the durable tree (after a crash) or the live one into
  BACKING, unmount, and mount BACKING again (answered by the next ``ready``)
  (``"image": DIR``: BACKING becomes a copy of DIR instead)
- ``{"cmd": "unmount"}``: the same, then exit instead of mounting again
"""

from __future__ import annotations

import errno
import faulthandler
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyfuse3
import trio

from tests.powerloss.disk import Disk, FsError, Node, clear


class _Ops(pyfuse3.Operations):
    """The FUSE operations over one ``Disk``, serialised with the control thread."""

    supports_dot_lookup = False
    enable_writeback_cache = False

    def __init__(self, disk: Disk, lock: threading.Lock) -> None:
        super().__init__()
        self.disk, self.lock = disk, lock

    @contextmanager
    def _op(self) -> Iterator[Disk]:
        with self.lock:
            try:
                yield self.disk
            except FsError as exc:
                raise pyfuse3.FUSEError(exc.errno) from None

    def _attrs(self, node: Node) -> pyfuse3.EntryAttributes:
        attrs = pyfuse3.EntryAttributes()
        attrs.st_ino = node.ino
        attrs.generation = 0
        attrs.entry_timeout = attrs.attr_timeout = 60
        attrs.st_mode = node.mode
        attrs.st_nlink = max(node.nlink, 1)
        attrs.st_uid, attrs.st_gid = os.getuid(), os.getgid()
        size = len(node.target) if stat.S_ISLNK(node.mode) else len(node.data)
        attrs.st_size = size
        attrs.st_blksize = 4096
        attrs.st_blocks = (size + 511) // 512
        attrs.st_atime_ns = attrs.st_mtime_ns = attrs.st_ctime_ns = node.mtime_ns
        return attrs

    async def lookup(self, parent_inode: int, name: bytes, ctx: Any = None) -> Any:
        with self._op() as disk:
            return self._attrs(disk.lookup(parent_inode, name))

    async def getattr(self, inode: int, ctx: Any = None) -> Any:
        with self._op() as disk:
            return self._attrs(disk.node(inode))

    async def setattr(self, inode: int, attr: Any, fields: Any, fh: Any, ctx: Any) -> Any:
        with self._op() as disk:
            node = disk.node(inode)
            if fields.update_size:
                disk.truncate(inode, attr.st_size)
            if fields.update_mode:
                node.mode = stat.S_IFMT(node.mode) | stat.S_IMODE(attr.st_mode)
            if fields.update_mtime:
                node.mtime_ns = attr.st_mtime_ns
            return self._attrs(node)

    async def readlink(self, inode: int, ctx: Any) -> bytes:
        with self._op() as disk:
            return disk.node(inode).target

    async def opendir(self, inode: int, ctx: Any) -> int:
        with self._op() as disk:
            disk.dir(inode)
            return inode

    async def readdir(self, fh: int, start_id: int, token: Any) -> None:
        with self._op() as disk:
            entries = sorted(disk.dir(fh).entries.items())
            for index, (name, ino) in enumerate(entries[start_id:], start=start_id + 1):
                if not pyfuse3.readdir_reply(token, name, self._attrs(disk.nodes[ino]), index):
                    break

    async def releasedir(self, fh: int) -> None:
        return None

    async def fsyncdir(self, fh: int, datasync: bool) -> None:
        with self._op() as disk:
            disk.sync_point(fh, "fsyncdir")

    async def mkdir(self, parent_inode: int, name: bytes, mode: int, ctx: Any) -> Any:
        with self._op() as disk:
            return self._attrs(disk.create(parent_inode, name, stat.S_IFDIR | (mode & 0o7777)))

    async def rmdir(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        with self._op() as disk:
            disk.unlink(parent_inode, name, rmdir=True)

    async def unlink(self, parent_inode: int, name: bytes, ctx: Any) -> None:
        with self._op() as disk:
            disk.unlink(parent_inode, name)

    async def rename(
        self, parent_inode_old: int, name_old: bytes, parent_inode_new: int, name_new: bytes,
        flags: int, ctx: Any,
    ) -> None:
        with self._op() as disk:
            disk.rename(parent_inode_old, name_old, parent_inode_new, name_new, flags)

    async def link(self, inode: int, new_parent_inode: int, new_name: bytes, ctx: Any) -> Any:
        with self._op() as disk:
            return self._attrs(disk.link(inode, new_parent_inode, new_name))

    async def symlink(self, parent_inode: int, name: bytes, target: bytes, ctx: Any) -> Any:
        with self._op() as disk:
            node = disk.create(parent_inode, name, stat.S_IFLNK | 0o777)
            node.target = target
            return self._attrs(node)

    async def open(self, inode: int, flags: int, ctx: Any) -> Any:
        with self._op() as disk:
            if disk.node(inode).is_dir:
                raise FsError(errno.EISDIR)
            return pyfuse3.FileInfo(fh=inode)

    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: Any
    ) -> Any:
        with self._op() as disk:
            node = disk.create(parent_inode, name, stat.S_IFREG | (mode & 0o7777))
            return pyfuse3.FileInfo(fh=node.ino), self._attrs(node)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        with self._op() as disk:
            return disk.read(fh, off, size)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        with self._op() as disk:
            return disk.write(fh, off, buf)

    async def flush(self, fh: int) -> None:
        return None

    async def release(self, fh: int) -> None:
        return None

    async def fsync(self, fh: int, datasync: bool) -> None:
        with self._op() as disk:
            disk.sync_point(fh, "fdatasync" if datasync else "fsync")

    async def statfs(self, ctx: Any) -> Any:
        with self._op() as disk:
            disk.check_power()
            info = pyfuse3.StatvfsData()
            info.f_bsize = info.f_frsize = 4096
            info.f_blocks = info.f_bfree = info.f_bavail = 1 << 20
            info.f_files = info.f_ffree = info.f_favail = 1 << 20
            info.f_namemax = 255
            return info

    async def access(self, inode: int, mode: int, ctx: Any) -> bool:
        with self._op() as disk:
            disk.node(inode)
            return True

    async def forget(self, inode_list: Any) -> None:
        return None


class _Control:
    """The stdin command loop, run in a thread beside the FUSE loop."""

    def __init__(self, disk: Disk, lock: threading.Lock, backing: Path) -> None:
        self.disk, self.lock, self.backing = disk, lock, backing
        self.token: Any = None
        self.rebooting = False

    def run(self) -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            try:
                answer = self.handle(command)
            except Exception as exc:  # answered, so a bad command never hangs the client
                answer = {"error": repr(exc)}
            if "error" in answer or command.get("cmd") not in ("unmount", "reboot"):
                self.answer(answer)
                continue
            # the next mount answers "ready" (a reboot); after the last, the answer is the exit
            rebooting = self.rebooting = command["cmd"] == "reboot"  # main resets the field
            trio.from_thread.run_sync(pyfuse3.terminate, trio_token=self.token)
            if not rebooting:
                return
        trio.from_thread.run_sync(pyfuse3.terminate, trio_token=self.token)

    def answer(self, answer: dict[str, Any]) -> None:
        """One JSON line on stdout."""
        print(json.dumps(answer), flush=True)

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        disk, cmd = self.disk, command.get("cmd")
        with self.lock:
            if cmd == "reset":
                disk.syncs, disk.crash_at = [], None
            elif cmd == "arm":
                disk.crash_at, disk.crash_mode = int(command["at"]), command.get("mode", "drop")
                disk.crash_seed = int(command.get("seed", 0))
            elif cmd == "sync":
                disk.check_power()
                disk.sync_all()
            elif cmd == "crash":
                disk.power_off(command.get("mode", "drop"), int(command.get("seed", 0)))
            elif cmd in ("unmount", "reboot") and command.get("image"):
                clear(self.backing)  # boot another disk: a copy of the image directory
                shutil.copytree(command["image"], self.backing, symlinks=True, dirs_exist_ok=True)
            elif cmd in ("unmount", "reboot"):
                disk.save(self.backing, durable=not disk.powered)
            elif cmd != "status":
                raise ValueError(f"unknown command {cmd!r}")
            return {"syncs": disk.syncs, "powered": disk.powered}


def main(backing: Path, mountpoint: Path) -> None:
    """Mount ``backing`` at ``mountpoint`` and serve until told to unmount."""
    lock = threading.Lock()
    control = _Control(Disk(), lock, backing)
    threading.Thread(target=control.run, daemon=True).start()
    options = set(pyfuse3.default_options)
    options.update({"fsname=powerloss", "subtype=powerloss"})
    while True:
        control.disk = disk = Disk()
        disk.load(backing)
        pyfuse3.init(_Ops(disk, lock), str(mountpoint), options)

        async def serve() -> None:
            control.token = trio.lowlevel.current_trio_token()
            control.answer({"ready": os.getpid(), "at": time.time()})
            await pyfuse3.main()

        try:
            trio.run(serve)
        finally:
            pyfuse3.close(unmount=True)
            _lazy_unmount(mountpoint)  # still mounted if a process kept a file open
        if not control.rebooting:
            break
        control.rebooting = False


def _lazy_unmount(mountpoint: Path) -> None:
    """Detach ``mountpoint`` if it is still (or dead but still) mounted."""
    subprocess.run(
        ["fusermount3", "-u", "-z", str(mountpoint)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # a hung daemon tells where
    main(Path(sys.argv[1]), Path(sys.argv[2]))
