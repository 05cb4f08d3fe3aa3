"""Purging a redaction from the views in a real redis-server: every generation, every
index key, and no batch folded before the purge writing the text back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis

from api import cli as cli_module
from ledger.envelope import NewEvent, RecordedEvent
from ledger.ids import new_uuid
from ledger.store import EventStore
from tests.support.redis_server import RedisServer
from tests.support.redis_text import keys_holding
from workers.config import ViewConfig, partition_of
from workers.coordination import read_pointer
from workers.digest import log_snapshot, views_snapshot
from workers.projector import Projector
from workers.purge import purge_claim
from workers.rebuild import _new_generation, open_configured_store, rebuild
from workers.synthetic import fill_store

SECRET = "zeta-7-source"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def fresh(tmp_path: Path, server: RedisServer) -> Iterator[tuple[EventStore, ViewConfig, Redis]]:
    """A small log, and a Redis database of its own."""
    config = ViewConfig(database_url=f"sqlite:///{tmp_path / 'l.db'}", partitions=2,
                        namespace=f"t{time.monotonic_ns()}", lock_ttl=2)
    store = open_configured_store(config)
    store.init()
    fill_store(store, 40, seed=3, batch=100)
    redis = server.client()
    redis.flushdb()
    yield store, config, redis
    store.close()


def secret_claim(store: EventStore) -> list[RecordedEvent]:
    """A claim whose statement, claimant, outlet, tag and denial carry the secret."""
    [first] = store.append([NewEvent(new_uuid(), "ClaimRecorded", {
        "statement": f"The {SECRET} said so.", "claimant": {"name": SECRET},
        "appearance": {"outlet": SECRET}, "tags": [SECRET],
    })], actor="desk")
    [denial] = store.append([NewEvent(first.claim_id, "ClaimDenied", {
        "by": {"name": "U.S. State Department"}, "note": f"Denies what {SECRET} said.",
    })], actor="desk")
    return [first, denial]


def redact_all(store: EventStore, events: list[RecordedEvent]) -> None:
    for event in events:
        store.redact(event.id, actor="legal", reason="Court order 14-223.")


def purge(store: EventStore, config: ViewConfig, redis: Redis, claim_id: str) -> Any:
    return purge_claim(redis, store, claim_id, keys=config.keys, scales=store.scales)


def test_a_purge_leaves_no_key_of_the_views_holding_the_text_and_views_equal_the_log(
    fresh: Any,
) -> None:
    store, config, redis = fresh
    events = secret_claim(store)
    rebuild(redis, store, config, "r")
    held = keys_holding(redis, SECRET)
    assert any(":i:claimant:" in key for key in held)
    assert any(":i:tag:" in key for key in held)
    redact_all(store, events)
    assert keys_holding(redis, SECRET)  # the store alone forgets nothing in Redis
    purged = purge(store, config, redis, events[0].claim_id)
    assert keys_holding(redis, SECRET) == []
    assert [p.outcome for p in purged.partitions] == ["rewritten"]
    assert purged.partitions[0].indexes_left == 3  # claimant, outlet, tag
    assert int(redis.get(config.keys.redactions) or 0) == purged.redactions == 1
    assert views_snapshot(redis, config.namespace).digest() == log_snapshot(store).digest()


def test_a_purge_reaches_a_generation_being_built_and_one_waiting_to_be_dropped(
    fresh: Any,
) -> None:
    store, config, redis = fresh
    events = secret_claim(store)
    rebuild(redis, store, config, "first")
    rebuild(redis, store, config, "second")  # the first generation waits for its drop job
    live = read_pointer(redis, config.keys)
    assert live is not None
    building = _new_generation(redis, config, live)
    with Projector(redis, store, config, store.scales) as projector:
        projector.run(building, config.partitions, list(range(config.partitions)))
    generations = {key.split(":")[1] for key in keys_holding(redis, SECRET)}
    assert len(generations) == 3
    redact_all(store, events)
    purged = purge(store, config, redis, events[0].claim_id)
    assert len(purged.partitions) == 3
    assert keys_holding(redis, SECRET) == []


def test_a_batch_folded_before_the_purge_is_refused_and_a_cached_stream_is_dropped(
    fresh: Any,
) -> None:
    store, config, redis = fresh
    events = secret_claim(store)
    rebuild(redis, store, config, "r")
    live = read_pointer(redis, config.keys)
    assert live is not None
    claim_id = events[0].claim_id
    parts = list(range(config.partitions))
    with Projector(redis, store, config, store.scales) as projector:
        projector.run(live.generation, live.partitions, parts)
        projector.cache.put(claim_id, store.read_claim(claim_id))  # a stream with the text
        [note] = store.append([NewEvent(claim_id, "NoteAdded", {"text": "later"})], actor="a")
        pk = next(config.keys.part(live.generation, p) for p in parts
                  if redis.exists(config.keys.part(live.generation, p).claim(claim_id)))
        [marker] = projector.markers([pk])
        stale = projector.prepare(pk, [note], note.position, note.position - 1, marker)
        redact_all(store, events)
        purge(store, config, redis, claim_id)
        assert projector._apply_script(keys=[pk.checkpoint], args=stale) == 0
        assert keys_holding(redis, SECRET) == []
        projector.run(live.generation, live.partitions, parts)  # folds again, from the log
    assert keys_holding(redis, SECRET) == []
    assert views_snapshot(redis, config.namespace).digest() == log_snapshot(store).digest()


def test_a_purge_with_no_views_built_writes_nothing_but_counts(fresh: Any) -> None:
    store, config, redis = fresh
    events = secret_claim(store)
    redact_all(store, events)
    purged = purge(store, config, redis, events[0].claim_id)
    assert purged.partitions == []
    assert purged.redactions == 1


def test_the_redact_command_reports_each_step_and_points_at_a_correction_with_the_text(
    fresh: Any, server: RedisServer, tmp_path: Path,
) -> None:
    store, config, redis = fresh
    events = secret_claim(store)
    [corrected] = store.append([NewEvent(events[0].claim_id, "EntryCorrected", {
        "target_event_id": events[1].id, "kind": "correction", "reason": "Typo.",
        "changes": {"note": f"Denies what the {SECRET} said."},
    })], actor="desk")
    config = ViewConfig(**{**config.to_dict(), "namespace": "cl"})  # the CLI's
    rebuild(redis, store, config, "r")
    assert keys_holding(redis, "Denies what")
    cli_module._register()
    env = {"LEDGER_DATABASE_URL": config.database_url, "LEDGER_REDIS_URL": server.url,
           "LEDGER_DATA_DIR": str(tmp_path), "LEDGER_PARTITIONS": str(config.partitions)}
    done = CliRunner().invoke(cli_module.cli, ["redact", events[1].id, "--reason", "Order."],
                              env=env)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith(f"store: deleted the payload of event {events[1].id}")
    assert f"note: correction {corrected.id} (v3) changed this entry" in done.output
    assert any(line.startswith("store: checkpointed the write-ahead log") for line in lines)
    assert any(line.startswith("purged: generation") for line in lines)
    assert SECRET not in done.output
    assert keys_holding(redis, "Denies what") != []  # the correction's changes: not redacted
    again = CliRunner().invoke(cli_module.cli, ["redact", events[1].id, "--reason", "Again."],
                               env=env)
    assert again.exit_code != 0
    assert "already redacted" in again.output
    retried = CliRunner().invoke(cli_module.cli, ["redact", events[1].id, "--purge-only"],
                                 env=env)
    assert retried.exit_code == 0, retried.output
    assert "store: the payload of event" in retried.output


def test_a_purged_link_leaves_the_claim_it_named_as_a_rebuild_would(fresh: Any) -> None:
    store, config, redis = fresh
    claims: dict[int, str] = {}
    while len(claims) < 2:  # one claim in each partition
        [event] = store.append([NewEvent(new_uuid(), "ClaimRecorded", {
            "statement": "Kerry asked Zarif.", "claimant": {"name": "Ali Khamenei"},
            "appearance": {"outlet": "Fars"}})], actor="desk")
        claims.setdefault(partition_of(event.claim_id, config.partitions), event.claim_id)
    source, target = claims[0], claims[1]
    [link] = store.append([NewEvent(source, "ClaimLinked", {
        "target_claim_id": target, "kind": "restates", "note": f"Per {SECRET}."})], actor="desk")
    rebuild(redis, store, config, "r")
    live = read_pointer(redis, config.keys)
    assert live is not None
    inbound = config.keys.part(live.generation, 1).linked_from(target)
    assert redis.hkeys(inbound) == [link.id.encode()]
    assert keys_holding(redis, SECRET)  # the note, on the source's own record
    redact_all(store, [link])
    purge(store, config, redis, source)
    assert redis.exists(inbound) == 0
    assert keys_holding(redis, SECRET) == []
    rebuild(redis, store, config, "again")
    live = read_pointer(redis, config.keys)
    assert live is not None
    assert redis.exists(config.keys.part(live.generation, 1).linked_from(target)) == 0
