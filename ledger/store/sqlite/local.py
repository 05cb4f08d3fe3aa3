"""One host per SQLite file: a ledger file on a network file system is refused.

Several processes on one host share a SQLite ledger safely (gunicorn workers, RQ
workers, the CLI): appends queue on an ``flock`` of the lock file and readers share
the write-ahead log's index through ``ledger.db-shm``, a memory-mapped file. Processes
on different hosts cannot: the memory map is not shared across machines and network
file systems do not honour those locks reliably, so two hosts on one file would
corrupt it or fork the log. Two hosts can only reach one file through a network file
system, so that is what is refused; other hosts must use PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import LedgerError

#: file system types (as /proc/self/mountinfo names them) another host can mount too
NETWORK_FILE_SYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "ceph", "glusterfs", "lustre",
    "gpfs", "ocfs2", "gfs2", "fuse.sshfs", "fuse.glusterfs", "fuse.s3fs", "fuse.rclone",
    "fuse.gcsfuse", "fuse.cephfs",
})
MOUNTINFO = Path("/proc/self/mountinfo")


class SharedFileSystem(LedgerError):
    """The SQLite file lies on a file system other hosts may mount."""


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mount_of(path: Path, mountinfo: str) -> tuple[str, str] | None:
    """``(mount point, file system type)`` of the mount holding ``path`` (absolute)."""
    best: tuple[str, str] | None = None
    target = str(path)
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        fstype = fields[fields.index("-") + 1] if fields.index("-") + 1 < len(fields) else ""
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype)  # the last of equal mount points is the one on top
    return best


def check_one_host(database: str | Path, mountinfo: str | None = None) -> None:
    """Refuse (``SharedFileSystem``) a SQLite file on a network file system.

    ``mountinfo`` defaults to this process's ``/proc/self/mountinfo``; without one (not
    Linux) nothing is checked.
    """
    if str(database) == ":memory:":
        return
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
    directory, rest = Path(database).absolute().parent, Path()
    while not directory.exists() and directory != directory.parent:  # init makes it later
        directory, rest = directory.parent, Path(directory.name) / rest
    found = mount_of(directory.resolve() / rest, mountinfo)
    if found is not None and found[1] in NETWORK_FILE_SYSTEMS:
        raise SharedFileSystem(
            f"the SQLite ledger {database} is on a network file system ({found[1]} at"
            f" {found[0]}): every process of a SQLite ledger must run on one host; run"
            " several hosts on PostgreSQL (docs/operations.md, Scaling out)"
        )
