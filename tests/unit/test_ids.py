"""Event and claim ids: UUIDv7, unique, in the order they were made."""

from __future__ import annotations

import time
import uuid

from ledger.ids import new_uuid


def test_ids_are_version_7_rfc_9562_uuids_stamped_with_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid.UUID(new_uuid()) for _ in range(1000)]
    after = time.time_ns() // 1_000_000
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert all(before <= u.int >> 80 <= after for u in ids)


def test_ids_made_one_after_another_sort_in_that_order_and_never_repeat() -> None:
    ids = [new_uuid() for _ in range(50_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_reuse_its_parents_random_bytes() -> None:
    import os

    new_uuid()  # the parent holds a buffer of random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its ids' random tails, then leave at once
        os.write(write, ",".join(new_uuid()[-12:] for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_uuid()[-12:] for _ in range(5)}
    assert len(child) == 5
    assert not child & parent
