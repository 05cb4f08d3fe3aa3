"""What a one-event append does before taking the append lock: the work that does not
depend on the log's head, without changing which error a request gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.envelope import NewEvent
from ledger.errors import ClaimNotFound
from ledger.ids import new_uuid
from ledger.store.sqlite.store import SQLiteEventStore


def test_a_payload_that_cannot_be_encoded_fails_after_the_checks_made_under_the_lock(
    tmp_path: Path,
) -> None:
    store = SQLiteEventStore(tmp_path / "ledger.db")
    try:
        store.init()
        with pytest.raises(ClaimNotFound):  # as before: the claim is checked first
            store.append([NewEvent(new_uuid(), "NoteAdded", {"text": float("nan")})], actor="t")
    finally:
        store.close()
