"""The store contract against the SQLite backend."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.store import EventStore, open_store
from ledger.store.sqlite import SQLiteEventStore

from .store_contract import ACTOR, StoreContract, new_claim_id, note, recorded


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


class TestSQLiteStore(StoreContract):
    """The SQLite event store keeps the store contract."""

    @pytest.fixture
    def new_url(self, sqlite_urls: Callable[[], str]) -> Callable[[], str]:
        return sqlite_urls

    def raw_execute(self, url: str, statement: str) -> None:
        conn = sqlite3.connect(_path(url), isolation_level=None)
        try:
            conn.execute(statement)
        finally:
            conn.close()

    def raw_rows(self, url: str, query: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(_path(url))
        try:
            return conn.execute(query).fetchall()
        finally:
            conn.close()

    def append_lock_held(self, url: str) -> bool:
        conn = sqlite3.connect(_path(url), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return True
            raise
        else:
            conn.execute("ROLLBACK")
            return False
        finally:
            conn.close()

    def unreachable_store(self, tmp_path: Path) -> EventStore:
        (tmp_path / "a-directory").mkdir()
        return open_store(f"sqlite:///{tmp_path / 'a-directory'}")

    # --- SQLite only ----------------------------------------------------------------------
    def test_a_failed_commit_rolls_back_and_leaves_the_connection_usable(
        self, store: EventStore
    ) -> None:
        assert isinstance(store, SQLiteEventStore)
        claim = new_claim_id()
        store.append([recorded(claim)], actor=ACTOR)
        conn = store.db.connect()

        def refuse_commit(action: int, arg1: str | None, *_: object) -> int:
            refused = action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT"
            return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

        conn.set_authorizer(refuse_commit)
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            store.append([note(claim)], actor=ACTOR)
        conn.set_authorizer(None)
        assert not conn.in_transaction
        assert [e.version for e in store.read_claim(claim)] == [1]
        assert store.append([note(claim)], actor=ACTOR)[0].version == 2


def test_a_new_database_and_its_wal_and_shm_are_readable_by_the_owner_only(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o022)  # the usual umask, under which SQLite creates files 0644
    try:
        path = tmp_path / "new" / "ledger.db"
        store = open_store(f"sqlite:///{path}")
        store.init()
        store.append([recorded(new_claim_id())], actor=ACTOR)
        modes = {
            name: stat.S_IMODE((path.parent / name).stat().st_mode)
            for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm")
        }
        store.close()
    finally:
        os.umask(previous)
    assert modes == {"ledger.db": 0o600, "ledger.db-wal": 0o600, "ledger.db-shm": 0o600}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
