"""The store contract against the PostgreSQL backend (needs LEDGER_TEST_POSTGRES_URL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.store import EventStore, open_store
from ledger.store.postgres import APPEND_LOCK_KEY
from ledger.store.postgres.write import bytea_array, int_array, text_array
from tests.support.postgres import with_query

from .store_contract import (
    ACTOR,
    StoreContract,
    export,
    export_bytes,
    new_claim_id,
    note,
    recorded,
)

pytestmark = pytest.mark.postgres

#: texts an array literal must quote or escape
AWKWARD = ['', ' ', 'NULL', 'null', '"', '\\', '\\"', '{a,b}', 'a, b', '\\x00', "'", 'é😀\t\n']

WRITER_APPLICATION = "claim-ledger-test-writer"


class _Interrupted(Exception):
    """Raised by a test inside a write transaction."""


class TestPostgresStore(StoreContract):
    """The PostgreSQL event store keeps the store contract."""

    refused_statements = (
        *StoreContract.refused_statements,
        "TRUNCATE events CASCADE",
        "TRUNCATE payloads",
        "DELETE FROM events WHERE position > 1000000",  # refused even when it matches nothing
    )
    init_rounds = 10

    @pytest.fixture
    def new_url(self, postgres_urls: Callable[..., str]) -> Callable[[], str]:
        return postgres_urls

    def raw_execute(self, url: str, statement: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement.encode())

    def raw_rows(self, url: str, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(query.encode()).fetchall()

    def writer_url(self, url: str) -> str:
        return with_query(url, application_name=WRITER_APPLICATION)

    def append_lock_held(self, url: str) -> bool:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::bigint::oid"
                " AND l.objid = %s::bigint::oid AND l.objsubid = 1 AND a.application_name = %s)",
                (APPEND_LOCK_KEY >> 32, APPEND_LOCK_KEY & 0xFFFFFFFF, WRITER_APPLICATION),
            ).fetchone()
            return bool(row and row[0])

    def unreachable_store(self, tmp_path: Path) -> EventStore:
        return open_store("postgresql://postgres@127.0.0.1:1/test?connect_timeout=1", timeout=1.0)

    # --- PostgreSQL only ----------------------------------------------------------------
    def test_init_creates_the_schema_named_by_the_urls_search_path(
        self, postgres_urls: Callable[..., str]
    ) -> None:
        url = postgres_urls(create=False)
        store = open_store(url)
        try:
            store.init()
            store.append([recorded(new_claim_id())], actor=ACTOR)
            assert store.head() == 1
        finally:
            store.close()
        assert self.raw_rows(url, "SELECT count(*) FROM events") == [(1,)]

    def test_stores_in_two_schemas_of_one_database_do_not_see_each_other(
        self, store: EventStore, fresh_store: Callable[[], EventStore]
    ) -> None:
        other = fresh_store()
        store.append([recorded(new_claim_id())], actor=ACTOR)
        assert other.head() == 0
        assert other.append([recorded(new_claim_id())], actor=ACTOR)[0].position == 1

    def test_an_export_from_sqlite_restores_into_postgresql_byte_identically(
        self, store: EventStore, sqlite_urls: Callable[[], str]
    ) -> None:
        source = open_store(sqlite_urls())
        try:
            source.init()
            self._fill(source)
            assert store.restore(export(source)) == source.head()
            assert export_bytes(store) == export_bytes(source)
        finally:
            source.close()

    def test_array_literals_read_back_as_the_values_they_were_built_from(
        self, postgres_base_url: str
    ) -> None:
        texts: list[str | None] = [*AWKWARD, None]
        blobs = [b"", bytes(range(256)), b"\\x"]
        with psycopg.connect(postgres_base_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT %s::text[], %s::bytea[], %s::bigint[], %s::text[]",
                (text_array(texts), bytea_array(blobs), int_array([-1, 0, 2**62]), text_array([])),
            ).fetchone()
        assert row == (texts, blobs, [-1, 0, 2**62], [])

    def test_awkward_text_is_stored_and_read_back_exactly(self, store: EventStore) -> None:
        claim_id = new_claim_id()
        written = store.append(
            [recorded(claim_id, "|".join(AWKWARD)), note(claim_id, "\\\"}{,")],
            actor='a "desk", \\ {x}',
        )
        assert store.read_claim(claim_id) == written

    def test_an_error_raised_after_the_insert_was_sent_commits_none_of_it(
        self, store: EventStore
    ) -> None:
        claim_id = new_claim_id()
        [first] = store.append([recorded(claim_id)], actor=ACTOR)
        second = first._replace(id=str(uuid.uuid4()), position=2, version=2)

        def insert_then_fail() -> None:
            with store.write_transaction() as tx:
                assert tx.head()[0] == 1
                tx.insert([second], [b"{}"])
                raise _Interrupted

        with pytest.raises(_Interrupted):
            insert_then_fail()
        assert store.head() == 1
        assert [e.version for e in store.read_claim(claim_id)] == [1]
        assert store.append([note(claim_id)], actor=ACTOR)[0].position == 2

    def test_concurrent_appends_work_even_when_the_server_default_isolation_is_serializable(
        self, url: str
    ) -> None:
        serializable = with_query(url, options="-cdefault_transaction_isolation=serializable")
        store = open_store(serializable, pool_size=4)
        errors: list[BaseException] = []

        def write(number: int) -> None:
            try:
                for i in range(25):
                    store.append([recorded(new_claim_id()), note(new_claim_id(), f"{number}-{i}")]
                                 [:1], actor=f"thread-{number}")
            except BaseException as exc:
                errors.append(exc)

        try:
            store.init()
            threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            assert errors == []
            assert [e.position for e in store.read_all()] == list(range(1, 101))
        finally:
            store.close()
