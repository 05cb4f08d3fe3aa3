"""The power-loss disk model: what processes see, and apart from it what a crash keeps.

Every file's live bytes and every directory's live entries are what the processes on
the mount read and write (the disk plus the kernel's page cache). Beside them each
file keeps its *durable* bytes and each directory its durable entries: what the disk
holds. ``fsync``/``fdatasync`` of a file copies the pages written since its last sync
(and its size) to its durable bytes; ``fsync`` of a directory makes its current
entries durable. Everything else (create, rename, unlink, truncate, writes) stays
unsynced, so after a crash

- a file's writes since its last sync are gone (or, ``torn``, the last one half there;
  ``random``, each unsynced page there or not);
- a file whose directory was not synced after its creation is gone, however often the
  file itself was synced; a rename or unlink not followed by a sync of the directory
  is undone (the strict POSIX reading; ext4 is kinder and also commits a new file's
  name on its first fsync).

Simplifications: modes, owners and times are durable at once; hard links count but a
crash keeps every durably linked name; the sector is 512 bytes and the page 4 KiB.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 4096
SECTOR = 512
ROOT = 1


@dataclass
class Node:
    """One inode: a file's bytes, a directory's entries or a symlink's target."""

    ino: int
    mode: int
    data: bytearray = field(default_factory=bytearray)
    durable: bytearray = field(default_factory=bytearray)
    dirty: set[int] = field(default_factory=set)
    low: int | None = None  # the smallest size a truncate gave since the last sync
    last_write: tuple[int, int, int] | None = None  # (seq, offset, length) unsynced
    entries: dict[bytes, int] = field(default_factory=dict)
    durable_entries: dict[bytes, int] = field(default_factory=dict)
    target: bytes = b""
    nlink: int = 1
    mtime_ns: int = field(default_factory=time.time_ns)
    path: str = "/"

    @property
    def is_dir(self) -> bool:
        """Whether this is a directory."""
        return stat.S_ISDIR(self.mode)


class FsError(Exception):
    """An operation's failure as an errno."""

    def __init__(self, errno: int) -> None:
        super().__init__(os.strerror(errno))
        self.errno = errno


class Disk:
    """The live tree, the durable tree beside it, the sync points and the power switch."""

    def __init__(self) -> None:
        self.nodes: dict[int, Node] = {ROOT: Node(ROOT, stat.S_IFDIR | 0o755, nlink=2)}
        self.next_ino = ROOT + 1
        self.seq = 0
        self.syncs: list[tuple[str, str]] = []  # (path, "fsync" | "fdatasync" | "fsyncdir")
        self.crash_at: int | None = None
        self.crash_mode = "drop"
        self.crash_seed = 0
        self.powered = True

    # --- loading and saving -------------------------------------------------------------
    def load(self, backing: Path) -> None:
        """Read ``backing`` as the disk's durable (and live) content."""
        self._load_dir(self.nodes[ROOT], backing)

    def _load_dir(self, parent: Node, directory: Path) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            node = self._new(info.st_mode, parent, entry.name.encode())
            if entry.is_symlink():
                node.target = os.fsencode(os.readlink(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                self._load_dir(node, Path(entry.path))
            else:
                node.data = bytearray(Path(entry.path).read_bytes())
                node.durable = bytearray(node.data)
        parent.durable_entries = dict(parent.entries)

    def save(self, backing: Path, *, durable: bool) -> None:
        """Write the durable tree (after a crash) or the live one (clean) into ``backing``."""
        clear(backing)
        self._save_dir(self.nodes[ROOT], backing, durable, (ROOT,))

    def _save_dir(self, node: Node, directory: Path, durable: bool, seen: tuple[int, ...]) -> None:
        for name, ino in (node.durable_entries if durable else node.entries).items():
            child, path = self.nodes[ino], directory / os.fsdecode(name)
            if child.is_dir:
                if ino in seen:
                    continue  # a directory renamed into itself across two unsynced renames
                path.mkdir(mode=stat.S_IMODE(child.mode))
                self._save_dir(child, path, durable, (*seen, ino))
            elif stat.S_ISLNK(child.mode):
                os.symlink(child.target, path)
            else:
                path.write_bytes(bytes(child.durable if durable else child.data))
                os.chmod(path, stat.S_IMODE(child.mode))

    # --- the namespace ------------------------------------------------------------------
    def _new(self, mode: int, parent: Node, name: bytes) -> Node:
        node = Node(self.next_ino, mode, nlink=2 if stat.S_ISDIR(mode) else 1)
        node.path = _join(parent.path, name)
        self.nodes[node.ino] = node
        self.next_ino += 1
        parent.entries[name] = node.ino
        parent.mtime_ns = time.time_ns()
        return node

    def dir(self, ino: int) -> Node:
        """The directory ``ino`` (ENOTDIR otherwise)."""
        node = self.node(ino)
        if not node.is_dir:
            raise FsError(20)  # ENOTDIR
        return node

    def node(self, ino: int) -> Node:
        """The inode ``ino``."""
        self.check_power()
        try:
            return self.nodes[ino]
        except KeyError:
            raise FsError(2) from None

    def lookup(self, parent: int, name: bytes) -> Node:
        """The inode named ``name`` in ``parent`` (ENOENT if none)."""
        ino = self.dir(parent).entries.get(name)
        if ino is None:
            raise FsError(2)
        return self.nodes[ino]

    def create(self, parent: int, name: bytes, mode: int) -> Node:
        """A new file, directory or symlink named ``name`` in ``parent``."""
        directory = self.dir(parent)
        if name in directory.entries:
            raise FsError(17)  # EEXIST
        if stat.S_ISDIR(mode):
            directory.nlink += 1
        return self._new(mode, directory, name)

    def link(self, ino: int, parent: int, name: bytes) -> Node:
        """Another name for ``ino``."""
        directory, node = self.dir(parent), self.node(ino)
        if name in directory.entries:
            raise FsError(17)
        directory.entries[name] = ino
        node.nlink += 1
        return node

    def unlink(self, parent: int, name: bytes, *, rmdir: bool = False) -> None:
        """Remove a name (the inode lives on while open or durably linked)."""
        directory = self.dir(parent)
        node = self.lookup(parent, name)
        if rmdir != node.is_dir:
            raise FsError(21 if node.is_dir else 20)  # EISDIR / ENOTDIR
        if rmdir and node.entries:
            raise FsError(39)  # ENOTEMPTY
        del directory.entries[name]
        node.nlink -= 1
        if rmdir:
            directory.nlink -= 1
        directory.mtime_ns = time.time_ns()

    def rename(self, old: int, name: bytes, new: int, new_name: bytes, flags: int) -> None:
        """Move a name; RENAME_NOREPLACE honoured, RENAME_EXCHANGE refused."""
        source, target = self.dir(old), self.dir(new)
        node = self.lookup(old, name)
        if flags & 2:
            raise FsError(22)  # EINVAL: no RENAME_EXCHANGE here
        if new_name in target.entries:
            if flags & 1:
                raise FsError(17)
            replaced = self.nodes[target.entries[new_name]]
            if replaced.is_dir and replaced.entries:
                raise FsError(39)
            replaced.nlink -= 1
        del source.entries[name]
        target.entries[new_name] = node.ino
        node.path = _join(target.path, new_name)
        source.mtime_ns = target.mtime_ns = time.time_ns()

    # --- data ---------------------------------------------------------------------------
    def read(self, ino: int, offset: int, size: int) -> bytes:
        """Live bytes."""
        return bytes(self.node(ino).data[offset : offset + size])

    def write(self, ino: int, offset: int, buf: bytes) -> int:
        """Write live bytes; their pages wait for a sync."""
        node = self.node(ino)
        if offset > len(node.data):
            node.data.extend(bytes(offset - len(node.data)))
        node.data[offset : offset + len(buf)] = buf
        if buf:
            node.dirty.update(range(offset // PAGE, (offset + len(buf) - 1) // PAGE + 1))
            self.seq += 1
            node.last_write = (self.seq, offset, len(buf))
        node.mtime_ns = time.time_ns()
        return len(buf)

    def truncate(self, ino: int, size: int) -> None:
        """Set the live size; the durable size follows at the next sync."""
        node = self.node(ino)
        if size < len(node.data):
            del node.data[size:]
            node.low = size if node.low is None else min(node.low, size)
        else:
            node.data.extend(bytes(size - len(node.data)))
        node.mtime_ns = time.time_ns()

    # --- syncs and power ----------------------------------------------------------------
    def check_power(self) -> None:
        """EIO once the power is off."""
        if not self.powered:
            raise FsError(5)

    def sync_point(self, ino: int, kind: str) -> None:
        """Count a sync point; at the armed one the power goes off instead."""
        node = self.node(ino)
        if self.crash_at is not None and len(self.syncs) + 1 >= self.crash_at:
            self.power_off(self.crash_mode, self.crash_seed)
            raise FsError(5)
        self.syncs.append((node.path, kind))
        if node.is_dir:
            node.durable_entries = dict(node.entries)
        else:
            _persist(node, node.dirty)

    def sync_all(self) -> None:
        """``sync(2)``: everything durable, no sync point counted."""
        for node in self.nodes.values():
            if node.is_dir:
                node.durable_entries = dict(node.entries)
            else:
                _persist(node, node.dirty)

    def power_off(self, mode: str = "drop", seed: int = 0) -> None:
        """Lose power now: ``drop`` every unsynced write, ``torn`` keeps half the last one,
        ``random`` keeps each unsynced page or not."""
        if not self.powered:
            return
        self.powered = False
        if mode == "torn":
            unsynced = [n for n in self.nodes.values() if n.last_write is not None]
            if unsynced:
                node = max(unsynced, key=lambda n: n.last_write or (0, 0, 0))
                _, offset, length = node.last_write or (0, 0, 0)
                kept = min(length, max(SECTOR, length // 2 // SECTOR * SECTOR))
                _patch(node, offset, bytes(node.data[offset : offset + kept]))
        elif mode == "random":
            rng = random.Random(seed)
            for node in self.nodes.values():
                for page in sorted(node.dirty):
                    if rng.random() < 0.5:
                        start = page * PAGE
                        _patch(node, start, bytes(node.data[start : start + PAGE]))
        elif mode != "drop":
            raise ValueError(f"unknown power-loss mode {mode!r}")


def _persist(node: Node, pages: set[int]) -> None:
    """Make ``pages`` and the size of ``node`` durable."""
    durable, live = node.durable, node.data
    if node.low is not None:
        del durable[node.low :]
    if len(durable) < len(live):
        durable.extend(bytes(len(live) - len(durable)))
    del durable[len(live) :]
    for page in pages:
        start = page * PAGE
        durable[start : start + PAGE] = live[start : start + PAGE]
    node.dirty, node.low, node.last_write = set(), None, None


def _patch(node: Node, offset: int, chunk: bytes) -> None:
    """Some unsynced bytes that reached the disk before the power went."""
    if offset > len(node.durable):
        node.durable.extend(bytes(offset - len(node.durable)))
    node.durable[offset : offset + len(chunk)] = chunk


def _join(parent: str, name: bytes) -> str:
    return parent.rstrip("/") + "/" + os.fsdecode(name)


def clear(directory: Path) -> None:
    """Remove everything inside ``directory``."""
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
