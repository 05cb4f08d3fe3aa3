"""The power-loss file system itself: what a crash keeps, what it drops, how syncs count."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.powerloss.mount import PowerLossMount


def _write(path: Path, data: bytes, *, sync: bool, offset: int = 0) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def test_a_synced_write_survives_the_power_loss_and_an_unsynced_one_after_it_does_not(
    powerloss: PowerLossMount,
) -> None:
    file = powerloss.mountpoint / "log"
    _write(file, b"kept", sync=True)
    _sync_dir(powerloss.mountpoint)
    _write(file, b" lost", sync=False, offset=4)
    assert file.read_bytes() == b"kept lost"  # the processes see it before the crash
    powerloss.crash()
    powerloss.reboot()
    assert file.read_bytes() == b"kept"


def test_a_clean_unmount_keeps_everything_written(powerloss: PowerLossMount) -> None:
    (powerloss.mountpoint / "dir").mkdir()
    _write(powerloss.mountpoint / "dir" / "f", b"never synced", sync=False)
    powerloss.reboot()
    assert (powerloss.mountpoint / "dir" / "f").read_bytes() == b"never synced"
    assert (powerloss.backing / "dir" / "f").read_bytes() == b"never synced"


def test_a_file_synced_but_whose_directory_was_not_vanishes_and_one_synced_there_stays(
    powerloss: PowerLossMount,
) -> None:
    _write(powerloss.mountpoint / "orphan", b"data", sync=True)
    powerloss.crash()
    powerloss.reboot()
    assert not (powerloss.mountpoint / "orphan").exists()
    _write(powerloss.mountpoint / "linked", b"data", sync=True)
    _sync_dir(powerloss.mountpoint)
    powerloss.crash()
    powerloss.reboot()
    assert (powerloss.mountpoint / "linked").read_bytes() == b"data"


def test_a_rename_and_an_unlink_not_followed_by_a_directory_sync_are_undone(
    powerloss: PowerLossMount,
) -> None:
    root = powerloss.mountpoint
    _write(root / "old", b"old", sync=True)
    _write(root / "tmp", b"new", sync=True)
    _write(root / "gone", b"gone", sync=True)
    _sync_dir(root)
    os.replace(root / "tmp", root / "old")
    (root / "gone").unlink()
    assert sorted(os.listdir(root)) == ["old"]
    powerloss.crash()
    powerloss.reboot()
    assert sorted(os.listdir(root)) == ["gone", "old", "tmp"]
    assert (root / "old").read_bytes() == b"old"
    os.replace(root / "tmp", root / "old")
    _sync_dir(root)
    powerloss.crash()
    powerloss.reboot()
    assert (root / "old").read_bytes() == b"new"


def test_a_truncate_is_durable_only_with_the_file_sync_and_then_shows_no_old_bytes(
    powerloss: PowerLossMount,
) -> None:
    file = powerloss.mountpoint / "f"
    _write(file, b"A" * 8192, sync=True)
    _sync_dir(powerloss.mountpoint)
    os.truncate(file, 0)
    powerloss.crash()
    powerloss.reboot()
    assert file.read_bytes() == b"A" * 8192
    os.truncate(file, 0)
    _write(file, b"z", sync=True, offset=4096)
    powerloss.crash()
    powerloss.reboot()
    assert file.read_bytes() == bytes(4096) + b"z"


def test_a_torn_crash_keeps_the_first_half_of_the_last_unsynced_write_only(
    powerloss: PowerLossMount,
) -> None:
    file = powerloss.mountpoint / "f"
    _write(file, b"-" * 8192, sync=True)
    _sync_dir(powerloss.mountpoint)
    _write(file, b"a" * 4096, sync=False)
    _write(file, b"b" * 4096, sync=False, offset=4096)
    powerloss.crash(mode="torn")
    powerloss.reboot()
    assert file.read_bytes() == b"-" * 4096 + b"b" * 2048 + b"-" * 2048


def test_a_random_crash_keeps_whole_unsynced_pages_or_none_of_them(
    powerloss: PowerLossMount,
) -> None:
    file = powerloss.mountpoint / "f"
    _write(file, b"-" * 4096 * 16, sync=True)
    _sync_dir(powerloss.mountpoint)
    _write(file, b"x" * 4096 * 16, sync=False)
    powerloss.crash(mode="random", seed=7)
    powerloss.reboot()
    data = file.read_bytes()
    pages = {data[i : i + 4096] for i in range(0, len(data), 4096)}
    assert pages == {b"-" * 4096, b"x" * 4096}  # some of each, never a mixed page


def test_sync_points_are_counted_per_file_and_the_armed_one_loses_the_power(
    powerloss: PowerLossMount,
) -> None:
    root = powerloss.mountpoint
    powerloss.reset()
    fd = os.open(root / "f", os.O_CREAT | os.O_WRONLY, 0o644)
    try:
        os.write(fd, b"one")
        os.fdatasync(fd)
        _sync_dir(root)
        os.write(fd, b"two")
        os.fsync(fd)
    finally:
        os.close(fd)
    assert powerloss.syncs() == [("/f", "fdatasync"), ("/", "fsyncdir"), ("/f", "fsync")]
    powerloss.reset()
    powerloss.arm(2)
    fd = os.open(root / "f", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"three")
        os.fsync(fd)  # sync point 1: kept
        os.write(fd, b"four")
        with pytest.raises(OSError, match="Input/output error"):
            os.fsync(fd)  # sync point 2: the power goes instead
        with pytest.raises(OSError, match="Input/output error"):
            os.write(fd, b"five")
    finally:
        os.close(fd)
    assert powerloss.syncs() == [("/f", "fsync")]
    assert not powerloss.powered
    powerloss.reboot()
    assert (root / "f").read_bytes() == b"onetwothree"
    assert powerloss.syncs() == []
    assert powerloss.powered
