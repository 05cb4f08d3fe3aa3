"""Event and claim ids: UUIDv7, unique, in the order they were made."""

from __future__ import annotations

import time
import uuid

from ledger.store.base import new_uuid


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
