"""The read API over views built in-process (real redis-server, no worker needed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from ledger.envelope import NewEvent
from ledger.fold import fold
from ledger.store import EventStore, open_store
from ledger.timeutil import normalize_time
from tests.support.net import free_port
from tests.support.redis_server import RedisServer
from workers.config import ViewConfig, connect
from workers.coordination import read_pointer, request_catch_up
from workers.digest import log_snapshot, views_snapshot
from workers.indexes import member, normalize
from workers.projector import Projector
from workers.rebuild import catch_up, drop_generation, open_configured_store, rebuild
from workers.synthetic import fill_store
from workers.views import InvalidQuery, ViewReader, ViewsBehind, ViewsUnavailable

CLAIMS = 900


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, server: RedisServer
) -> tuple[EventStore, ViewConfig, Redis]:
    """A synthetic log and its views over three partitions (read-only tests)."""
    path = tmp_path_factory.mktemp("log") / "ledger.db"
    config = ViewConfig(database_url=f"sqlite:///{path}", partitions=3, namespace="ro")
    store = open_configured_store(config)
    store.init()
    fill_store(store, CLAIMS, seed=5, batch=300)
    redis = server.client()
    assert rebuild(redis, store, config, "module") is not None
    return store, config, redis


@pytest.fixture
def fresh(tmp_path: Path, server: RedisServer) -> Iterator[tuple[EventStore, ViewConfig, Redis]]:
    """A small log and empty Redis namespace of its own (tests that write)."""
    config = ViewConfig(database_url=f"sqlite:///{tmp_path / 'l.db'}", partitions=2,
                        namespace=f"t{time.monotonic_ns()}", lock_ttl=2)
    store = open_configured_store(config)
    store.init()
    fill_store(store, 150, seed=9, batch=100)
    yield store, config, server.client()
    store.close()


def states(store: EventStore) -> dict[str, dict[str, Any]]:
    return log_snapshot(store).claims


def test_views_equal_a_fold_of_the_log_over_three_partitions(built: Any) -> None:
    store, config, redis = built
    snapshot = views_snapshot(redis, config.namespace)
    expected = log_snapshot(store)
    assert snapshot.digest() == expected.digest(), snapshot.differences(expected)
    assert snapshot.checkpoint == store.head()


def test_a_claim_read_from_the_views_is_exactly_the_fold_of_its_stream(built: Any) -> None:
    store, config, redis = built
    reader = ViewReader(redis, namespace=config.namespace)
    for claim_id in list(states(store))[:25]:
        assert reader.get_claim(claim_id) == fold(store.read_claim(claim_id), store.scales)
    assert reader.get_claim("00000000-0000-4000-8000-000000000000") is None


def test_paging_visits_every_visible_claim_once_newest_first(built: Any) -> None:
    store, config, redis = built
    reader = ViewReader(redis, namespace=config.namespace)
    expected = sorted((member(s) for s in states(store).values() if s["status"] != "voided"),
                      reverse=True)
    seen: list[str] = []
    cursor = None
    while True:
        items, cursor = reader.list_claims(limit=70, cursor=cursor)
        seen += [member(i) for i in items]
        if cursor is None:
            break
    assert seen == expected


def test_voided_claims_are_hidden_unless_asked_for(built: Any) -> None:
    store, config, redis = built
    reader = ViewReader(redis, namespace=config.namespace)
    voided = {k for k, s in states(store).items() if s["status"] == "voided"}
    assert voided
    items, _ = reader.list_claims(limit=200)
    assert not voided & {i["id"] for i in items}
    items, cursor = reader.list_claims(status="voided", limit=200)
    assert {i["id"] for i in items} == voided
    assert cursor is None


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "disputed"},
        {"verdict": "false"},
        {"tag": "topic-07"},
        {"outlet": "  OUTLET 03 "},
        {"claimant": "person b001"},
        {"status": "denied", "tag": "topic-02"},
        {"status": "voided", "tag": "topic-02"},
        {"updated_after": "2000-01-01T00:00:00Z"},
        {"status": "retracted", "updated_after": "2999-01-01T00:00:00Z"},
    ],
)
def test_filters_give_what_filtering_the_fold_by_hand_gives(
    built: Any, filters: dict[str, str]
) -> None:
    store, config, redis = built
    reader = ViewReader(redis, namespace=config.namespace)

    def wanted(s: dict[str, Any]) -> bool:
        if s["status"] == "voided" and filters.get("status") != "voided":
            return False
        outlets = {normalize(a["outlet"]) for a in s["appearances"]}
        return all([
            filters.get("status") in (None, s["status"]),
            filters.get("verdict") in (None, (s["verdict"] or {}).get("value")),
            filters.get("tag") is None or filters["tag"] in s["tags"],
            filters.get("outlet") is None or normalize(filters["outlet"]) in outlets,
            filters.get("claimant") is None
            or normalize(filters["claimant"]) == normalize(s["claimant"]["name"]),
            filters.get("updated_after") is None
            or s["updated_at"] > normalize_time(filters["updated_after"]),
        ])

    expected = sorted((member(s) for s in states(store).values() if wanted(s)), reverse=True)
    got: list[str] = []
    cursor = None
    for _ in range(100):
        items, cursor = reader.list_claims(limit=50, cursor=cursor, **filters)
        got += [member(i) for i in items]
        if cursor is None:
            break
    assert got == expected


def test_bad_cursors_limits_and_times_are_invalid_queries(built: Any) -> None:
    _, config, redis = built
    reader = ViewReader(redis, namespace=config.namespace)
    for kwargs in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 201},
                   {"updated_after": "yesterday"}):
        with pytest.raises(InvalidQuery):
            reader.list_claims(**kwargs)  # type: ignore[arg-type]


def test_projections_report_head_checkpoint_lag_and_generation(built: Any) -> None:
    store, config, redis = built
    info = ViewReader(redis, namespace=config.namespace).projections(store.head() + 5)
    assert info["checkpoint"] == store.head()
    assert info["lag"] == 5
    assert info["generation"] >= 1
    assert info["partitions"] == 3
    assert info["rebuilding"] is False


def test_min_position_past_the_views_times_out_with_views_behind(built: Any) -> None:
    store, config, redis = built
    reader = ViewReader(redis, namespace=config.namespace)
    started = time.monotonic()
    with pytest.raises(ViewsBehind) as caught:
        reader.list_claims(limit=5, min_position=store.head() + 1, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert caught.value.checkpoint == store.head()
    assert reader.list_claims(limit=5, min_position=store.head())[0]


def test_a_waiting_read_returns_as_soon_as_a_catch_up_applies_the_append(fresh: Any) -> None:
    store, config, redis = fresh
    rebuild(redis, store, config, "r")
    claim_id = next(iter(states(store)))
    [event] = store.append([NewEvent(claim_id, "NoteAdded", {"text": "new"})], actor="a")
    reader = ViewReader(redis, namespace=config.namespace)
    timer = threading.Timer(0.1, catch_up, (redis, store, config, 0, "manual"))
    timer.start()
    timer2 = threading.Timer(0.1, catch_up, (redis, store, config, 1, "manual"))
    timer2.start()
    state = reader.get_claim(claim_id, min_position=event.position, timeout=5)
    assert state is not None
    assert state["version"] == event.version
    timer.join()
    timer2.join()


def test_two_jobs_racing_on_one_partition_never_double_apply(fresh: Any) -> None:
    store, config, redis = fresh
    rebuild(redis, store, config, "r")
    claims = list(states(store))
    store.append([NewEvent(c, "ClaimDenied", {"by": {"name": "X"}}) for c in claims],
                 actor="a")
    live = read_pointer(redis, config.keys)
    assert live is not None
    small = ViewConfig(**{**config.to_dict(), "batch_size": 7})
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with Projector(redis, open_store(config.database_url), small, store.scales) as p:
                p.run(live.generation, live.partitions, [0, 1])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert views_snapshot(redis, config.namespace).digest() == log_snapshot(store).digest()


def test_a_batch_from_a_stale_checkpoint_is_refused_and_writes_nothing(fresh: Any) -> None:
    store, config, redis = fresh
    rebuild(redis, store, config, "r")
    live = read_pointer(redis, config.keys)
    assert live is not None
    before = views_snapshot(redis, config.namespace).digest()
    projector = Projector(redis, store, config, store.scales)
    events = store.read_all(0, 50)
    assert projector.apply(config.keys.part(live.generation, 0), events, 50, 0) is False
    assert views_snapshot(redis, config.namespace).digest() == before


def test_dropping_a_generation_deletes_only_its_keys(fresh: Any) -> None:
    store, config, redis = fresh
    rebuild(redis, store, config, "r1")
    first = read_pointer(redis, config.keys)
    rebuild(redis, store, config, "r2")
    assert first is not None
    assert drop_generation(redis, config, first.generation, first.partitions) > 0
    assert not list(redis.scan_iter(match=config.keys.generation_prefix(first.generation) + "*"))
    assert views_snapshot(redis, config.namespace).digest() == log_snapshot(store).digest()


def test_without_redis_triggers_return_at_once_and_reads_say_unavailable(fresh: Any) -> None:
    _, config, _ = fresh
    down = connect(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    for _ in range(100):
        assert request_catch_up(down, config) == 0
    assert time.monotonic() - started < 1
    with pytest.raises(ViewsUnavailable):
        ViewReader(down).list_claims()
    with pytest.raises(ViewsUnavailable):
        ViewReader(down).get_claim("00000000-0000-4000-8000-000000000000")


def test_reads_before_any_views_exist_say_unavailable(fresh: Any) -> None:
    _, config, redis = fresh
    with pytest.raises(ViewsUnavailable):
        ViewReader(redis, namespace=config.namespace).list_claims()
