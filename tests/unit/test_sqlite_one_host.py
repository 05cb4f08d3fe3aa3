"""A SQLite ledger on a file system other hosts can mount is refused; local ones are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.store import open_store
from ledger.store.sqlite.local import (
    NETWORK_FILE_SYSTEMS,
    SharedFileSystem,
    check_one_host,
    mount_of,
)

MOUNTS = "\n".join([
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "27 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "40 27 0:50 / /srv/ledger rw,relatime shared:30 - nfs4 files:/export rw,vers=4.2",
    "41 40 0:51 / /srv/ledger/local\\040disk rw - xfs /dev/sdb1 rw",
])


def test_the_deepest_mount_holding_the_path_is_found() -> None:
    assert mount_of(Path("/var/lib/x.db"), MOUNTS) == ("/", "ext4")
    assert mount_of(Path("/srv/ledger"), MOUNTS) == ("/srv/ledger", "nfs4")
    assert mount_of(Path("/srv/ledger/var"), MOUNTS) == ("/srv/ledger", "nfs4")
    assert mount_of(Path("/srv/ledger/local disk/v"), MOUNTS) == ("/srv/ledger/local disk", "xfs")
    assert mount_of(Path("/srv/ledgerx"), MOUNTS) == ("/", "ext4")


def test_a_file_on_nfs_is_refused_in_one_line_naming_the_mount() -> None:
    with pytest.raises(SharedFileSystem, match=r"network file system \(nfs4 at /srv/ledger\)"):
        check_one_host("/srv/ledger/var/ledger.db", MOUNTS)
    check_one_host("/srv/ledger/local disk/ledger.db", MOUNTS)  # a local disk under it
    check_one_host("/var/lib/ledger.db", MOUNTS)


@given(st.sampled_from(sorted(NETWORK_FILE_SYSTEMS)), st.sampled_from(["ext4", "xfs", "tmpfs",
                                                                        "btrfs", "fuse.lazyfs"]))
def test_every_network_type_is_refused_and_local_ones_are_not(network: str, local: str) -> None:
    mounts = f"1 0 8:1 / / rw - {local} /dev/sda1 rw\n2 1 0:9 / /net rw - {network} h:/e rw"
    with pytest.raises(SharedFileSystem):
        check_one_host("/net/a/ledger.db", mounts)
    check_one_host("/home/a/ledger.db", mounts)


def test_this_hosts_temporary_directory_is_accepted_by_the_store(tmp_path: Path) -> None:
    check_one_host(tmp_path / "not-yet" / "ledger.db")  # the real mount table
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.init()
    assert store.head() == 0
    store.close()
