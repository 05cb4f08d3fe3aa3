"""Paging a claim's history: the store's pages, the claim's version and corrections, and
``GET /v1/claims/{id}/history?after=&limit=``, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.checkpoint import load_or_create_signing_key
from ledger.store import EventStore, open_store
from ledger.timeutil import format_time
from tests.integration.store_contract import (
    ACTOR,
    MONDAY,
    corrected,
    denied,
    new_claim_id,
    note,
    recorded,
)
from tests.support.api_harness import ApiHarness, assert_problem

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each backend (PostgreSQL skipped when none is configured)."""
    fixture = "sqlite_urls" if request.param == "sqlite" else "postgres_urls"
    make: Callable[[], str] = request.getfixturevalue(fixture)
    return make()


@pytest.fixture
def store(url: str) -> Iterator[EventStore]:
    opened = open_store(url)
    opened.init()
    yield opened
    opened.close()


@pytest.fixture
def api(url: str, tmp_path: Path) -> Iterator[ApiHarness]:
    key = tmp_path / "signing.key"
    load_or_create_signing_key(key)
    harness = ApiHarness.create(tmp_path, DATABASE_URL=url, SIGNING_KEY=key)
    yield harness
    harness.store.close()


def _claim_of(store: EventStore, notes: int) -> str:
    claim = new_claim_id()
    store.append([recorded(claim)] + [note(claim, f"n{i}") for i in range(notes)], actor=ACTOR)
    return claim


# --- the store ------------------------------------------------------------------------
def test_read_claim_pages_by_version_after_and_limit(store: EventStore) -> None:
    claim = _claim_of(store, 24)
    other = _claim_of(store, 3)
    pages, after = [], 0
    while page := store.read_claim(claim, after=after, limit=10):
        pages.append([e.version for e in page])
        after = page[-1].version
    assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    assert [e.version for e in store.read_claim(claim, after=7, limit=3)] == [8, 9, 10]
    assert store.read_claim(claim, after=25) == []
    assert [e.claim_id for e in store.read_claim(other, after=1)] == [other] * 3
    assert len(store.read_claim(claim)) == 25


def test_a_page_of_envelopes_equals_the_page_of_events_to_json(store: EventStore) -> None:
    claim = _claim_of(store, 12)
    texts = store.read_claim_json(claim, after=4, limit=5)
    events = store.read_claim(claim, after=4, limit=5)
    assert [v for v, _ in texts] == [5, 6, 7, 8, 9]
    assert [json.loads(t) for _, t in texts] == [e.to_json() for e in events]


def test_as_of_and_paging_combine(store: EventStore) -> None:
    claim = new_claim_id()
    for i, event in enumerate([recorded(claim), note(claim), note(claim), denied(claim)]):
        store.append([event], actor=ACTOR, now=MONDAY + timedelta(hours=i))
    cut = format_time(MONDAY + timedelta(hours=2))
    assert [e.version for e in store.read_claim(claim, as_of=cut, after=1, limit=5)] == [2, 3]
    assert [v for v, _ in store.read_claim_json(claim, as_of=cut, after=2)] == [3]


def test_claim_version_is_the_last_version_or_zero(store: EventStore) -> None:
    claim = _claim_of(store, 6)
    assert store.claim_version(claim) == 7
    assert store.claim_version(new_claim_id()) == 0


def test_claim_corrections_are_only_the_claims_corrections_in_order(store: EventStore) -> None:
    claim = _claim_of(store, 5)
    other = _claim_of(store, 2)
    entries = store.read_claim(claim)
    first = store.append([corrected(claim, entries[2].id)], actor=ACTOR)[0]
    store.append([note(claim)], actor=ACTOR)
    second = store.append([corrected(claim, entries[3].id, "clarification")], actor=ACTOR)[0]
    store.append([corrected(other, store.read_claim(other)[1].id)], actor=ACTOR)
    assert store.claim_corrections(claim) == [first, second]
    assert store.claim_corrections(new_claim_id()) == []


# --- the API ----------------------------------------------------------------------------
def test_history_pages_with_next_after_and_a_link_to_the_next_page(api: ApiHarness) -> None:
    claim = _claim_of(api.store, 11)
    seen: list[int] = []
    path = f"/v1/claims/{claim}/history?limit=5"
    links = []
    while True:
        response = api.get(path, role="reader")
        assert response.status_code == 200
        page = response.get_json()
        seen += [e["version"] for e in page["events"]]
        assert page["next_after"] == seen[-1]
        link = response.headers.get("Link")
        if link is None:
            break
        links.append(link)
        path = link[1:link.index(">")]
    assert seen == list(range(1, 13))
    assert links == [f'</v1/claims/{claim}/history?after={n}&limit=5>; rel="next"'
                     for n in (5, 10)]


def test_a_page_past_the_end_is_empty_and_keeps_after(api: ApiHarness) -> None:
    claim = _claim_of(api.store, 2)
    response = api.get(f"/v1/claims/{claim}/history?after=3", role="reader")
    assert response.status_code == 200
    assert response.get_json() == {"claim_id": claim, "events": [], "next_after": 3}
    assert "Link" not in response.headers
    assert_problem(api.get(f"/v1/claims/{new_claim_id()}/history?after=3", role="reader"), 404)


def test_the_default_page_is_the_first_thousand_events(api: ApiHarness) -> None:
    claim = _claim_of(api.store, 1000)
    response = api.get(f"/v1/claims/{claim}/history", role="reader")
    page = response.get_json()
    assert [e["version"] for e in page["events"]] == list(range(1, 1001))
    assert response.headers["ETag"] == '"1000"'
    assert response.headers["Link"] == (
        f'</v1/claims/{claim}/history?after=1000&limit=1000>; rel="next"')
    rest = api.get(f"/v1/claims/{claim}/history?after=1000", role="reader").get_json()
    assert [e["version"] for e in rest["events"]] == [1001]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "after=-1", "after=x",
                                   "after=9223372036854775808"])
def test_paging_parameters_are_bounded(api: ApiHarness, query: str) -> None:
    claim = _claim_of(api.store, 1)
    name = query.split("=")[0]
    assert_problem(api.get(f"/v1/claims/{claim}/history?{query}", role="reader"), 422, name)


def test_a_page_with_proofs_proves_only_its_events(api: ApiHarness) -> None:
    claim = _claim_of(api.store, 6)
    response = api.get(f"/v1/claims/{claim}/history?proofs=true&after=2&limit=3",
                       role="auditor")
    assert response.status_code == 200, response.get_json()
    page = response.get_json()
    assert [e["version"] for e in page["events"]] == [3, 4, 5]
    assert all("inclusion_proof" in e for e in page["events"])
    assert page["next_after"] == 5
    assert "after=5" in response.headers["Link"]
    assert "proofs=true" in response.headers["Link"]
