"""A SQLite redaction forgets the payload's bytes: in the database file and in its WAL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledger.envelope import NewEvent
from ledger.ids import new_uuid
from ledger.store import open_store

SECRET = "zeta-7-source-bytes"


def file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_after_redact_and_forget_deleted_neither_the_file_nor_the_wal_holds_the_payload(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    store = open_store(f"sqlite:///{path}")
    store.init()
    claim = new_uuid()
    [event] = store.append([NewEvent(claim, "ClaimRecorded", {
        "statement": f"The {SECRET} said so.", "claimant": {"name": "A"},
        "appearance": {"outlet": "B"},
    })], actor="desk")
    for n in range(30):  # later appends rewrite the payload's page into the WAL again
        store.append([NewEvent(claim, "NoteAdded", {"text": f"note {n}"})], actor="desk")
    assert SECRET.encode() in file_bytes(path)
    with store.db.connection() as conn:  # as SQLite builds without SQLITE_SECURE_DELETE have it
        conn.execute("PRAGMA secure_delete = OFF")
    store.redact(event.id, actor="legal", reason="Court order 14-223.")
    assert SECRET.encode() in file_bytes(path)  # older copies of the page, in the WAL
    said = store.forget_deleted()
    assert said.startswith("checkpointed the write-ahead log")
    assert SECRET.encode() not in file_bytes(path)
    assert Path(f"{path}-wal").stat().st_size == 0
    assert store.read_claim(claim)[0].data is None
    with store.db.connection() as conn:  # the connection's own setting is back
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 0
    store.close()


def test_without_secure_delete_the_checkpoint_alone_would_leave_the_bytes(
    tmp_path: Path,
) -> None:
    """Why the redaction needs ``secure_delete``: a plain DELETE only marks the cell free."""
    path = tmp_path / "plain.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)",
                         [(1, f"the {SECRET}"), *((n, f"other {n}") for n in range(2, 30))])
        conn.execute("DELETE FROM t WHERE id = 1")
    assert SECRET.encode() in path.read_bytes()
