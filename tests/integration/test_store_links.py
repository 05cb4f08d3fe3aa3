"""The links naming a claim, read from the log on SQLite and PostgreSQL: the index of link
targets finds them without reading the log, and ``ledger.links.linked_from`` gives what
folding every linking claim's whole stream gives, now and as of any time."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.envelope import NewEvent
from ledger.errors import ValidationFailed
from ledger.events import validate_payload
from ledger.fold import replay
from ledger.links import given, inbound_order, linked_from
from ledger.store import EventStore, open_store
from ledger.store.links import _CORRECTIONS, _LINKS_TO, _RECORDS
from ledger.timeutil import format_time

from .store_contract import ACTOR, corrected, new_claim_id, note, recorded

START = datetime(2014, 9, 15, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """A fresh SQLite file, or a fresh PostgreSQL schema."""
    name = "sqlite_urls" if request.param == "sqlite" else "postgres_urls"
    made: str = request.getfixturevalue(name)()
    return made


@pytest.fixture
def store(url: str) -> Iterator[EventStore]:
    opened = open_store(url)
    opened.init()
    yield opened
    opened.close()


def raw(url: str, statements: list[str], query: str | None = None,
        params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``statements`` then ``query`` on a connection of the store's own database."""
    if url.startswith("sqlite:///"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement)
            return conn.execute(query, params).fetchall() if query else []
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        for statement in statements:
            pg.execute(statement)
        return pg.execute(query, params).fetchall() if query else []


def linked(source: str, target: str, kind: str = "same-as", occurred_at: str | None = None,
           note_text: str | None = None) -> NewEvent:
    data: dict[str, Any] = {"target_claim_id": target, "kind": kind}
    if note_text is not None:
        data["note"] = note_text
    return NewEvent(source, "ClaimLinked", validate_payload("ClaimLinked", data), occurred_at)


def claims(store: EventStore, count: int, now: datetime = START) -> list[str]:
    ids = [new_claim_id() for _ in range(count)]
    store.append([recorded(c) for c in ids], actor=ACTOR, now=now)
    return ids


def test_the_links_naming_a_claim_are_found_in_position_order_as_of_a_time(
    store: EventStore,
) -> None:
    kerry, sherman, jones, other = claims(store, 4)
    first = store.append([linked(sherman, kerry, "restates")], actor=ACTOR,
                         now=START + timedelta(hours=1))[0]
    store.append([linked(sherman, other)], actor=ACTOR, now=START + timedelta(hours=2))
    # a note quoting a payload names no claim: its quotes are escaped in the stored JSON
    store.append([note(jones, f'{{"target_claim_id":"{kerry}"}}')], actor=ACTOR,
                 now=START + timedelta(hours=2))
    second = store.append([linked(jones, kerry, "contradicts")], actor=ACTOR,
                          now=START + timedelta(hours=3))[0]
    assert [e.id for e in store.links.links_to(kerry)] == [first.id, second.id]
    assert store.links.links_to(kerry)[1].data == {"target_claim_id": kerry,
                                                   "kind": "contradicts"}
    assert [e.id for e in store.links.links_to(kerry, as_of=second.recorded_at)] == [
        first.id, second.id]
    early = format_time(START + timedelta(hours=2))
    assert [e.id for e in store.links.links_to(kerry, as_of=early)] == [first.id]
    assert store.links.links_to(sherman) == []
    # redacting a link's payload takes it out of the index: its target was in the payload
    store.redact(first.id, actor=ACTOR, reason="Legal takedown.")
    assert [e.id for e in store.links.links_to(kerry)] == [second.id]


def test_the_links_to_a_claim_are_read_through_the_index_not_the_log(
    store: EventStore, url: str,
) -> None:
    target, source = claims(store, 2)
    store.append([linked(source, target)], actor=ACTOR)
    # and the linking claims' records and corrections, two at a time here
    sources = _RECORDS + "?,?) UNION ALL " + _CORRECTIONS + "?,?)"
    if url.startswith("sqlite:///"):
        plan = raw(url, [], "EXPLAIN QUERY PLAN " + _LINKS_TO[0], (target,))
        text = " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX payloads_link_targets" in text, text
        plan = raw(url, [], "EXPLAIN QUERY PLAN " + sources, (source, target) * 2)
        text += " ".join(str(row[-1]) for row in plan)
        assert "USING INDEX events_claim_corrections" in text, text
        assert "SCAN" not in text, text
    else:
        # seq scans priced out: a plan not using the index would still be a seq scan
        plan = raw(url, ["SET enable_seqscan = off"], "EXPLAIN " + _LINKS_TO[1], (target,))
        text = " ".join(str(row[0]) for row in plan)
        assert "payloads_link_targets" in text, text
        plan = raw(url, ["SET enable_seqscan = off"], "EXPLAIN " + sources.replace("?", "%s"),
                   (source, target) * 2)
        text += " ".join(str(row[0]) for row in plan)
        assert "Seq Scan" not in text, text


def test_an_existing_log_is_indexed_when_it_migrates_and_keeps_its_bytes(
    store: EventStore, url: str,
) -> None:
    target, source, third = claims(store, 3)
    links = store.append([linked(source, target), linked(third, target, "responds-to")],
                         actor=ACTOR)
    before = [e.to_json() for e in store.iter_all()]
    # the log as it was before the migration: no index, the migration not recorded
    number = len(raw(url, [], "SELECT version FROM ledger_schema"))
    raw(url, ["DROP INDEX payloads_link_targets",
              f"DELETE FROM ledger_schema WHERE version = {number}"])
    assert len(raw(url, [], "SELECT version FROM ledger_schema")) == number - 1
    store.init()
    assert [e.id for e in store.links.links_to(target)] == [e.id for e in links]
    assert [e.to_json() for e in store.iter_all()] == before


def test_a_voided_link_or_source_drops_out_and_a_corrected_kind_shows(
    store: EventStore,
) -> None:
    kerry, sherman, jones, lying = claims(store, 4)
    a = store.append([linked(sherman, kerry, "restates", "2014-09-15T10:00:00.000000Z")],
                     actor=ACTOR)[0]
    b = store.append([linked(jones, kerry, "responds-to", "2014-09-14T10:00:00.000000Z")],
                     actor=ACTOR)[0]
    c = store.append([linked(lying, kerry, "same-as", "2014-09-16T10:00:00.000000Z")],
                     actor=ACTOR)[0]
    assert [(x["claim_id"], x["event_id"]) for x in linked_from(store, kerry)] == [
        (jones, b.id), (sherman, a.id), (lying, c.id)]  # oldest occurrence first
    assert linked_from(store, kerry)[0] == {
        "event_id": b.id, "claim_id": jones, "kind": "responds-to",
        "occurred_at": "2014-09-14T10:00:00.000000Z"}
    store.append([corrected(sherman, a.id)], actor=ACTOR)
    change = validate_payload("EntryCorrected", {
        "target_event_id": b.id, "kind": "correction", "changes": {"kind": "contradicts"},
        "reason": "It denies it."})
    store.append([NewEvent(jones, "EntryCorrected", change)], actor=ACTOR)
    store.append([corrected(lying, store.read_claim(lying)[0].id)], actor=ACTOR)
    assert [(x["claim_id"], x["kind"]) for x in linked_from(store, kerry)] == [
        (jones, "contradicts")]
    assert linked_from(store, kerry, valid_at="2014-09-13T00:00:00.000000Z") == []


def random_log(store: EventStore, seed: int) -> list[str]:
    """A log of linked claims, some links voided, corrected or redacted, some claims voided,
    recorded over a few days and occurring over a few weeks; its claim ids."""
    rng = random.Random(seed)
    clock = START
    ids = claims(store, 6, clock)

    def occurred() -> str:
        return format_time(START + timedelta(days=rng.randint(-20, 10), minutes=rng.randint(0, 9)))

    for _ in range(60):
        clock += timedelta(minutes=rng.choice([0, 7, 90]))
        source = rng.choice(ids)
        links = [e for e in store.read_claim(source) if e.type == "ClaimLinked"]
        roll = rng.random()
        try:
            if roll < 0.45 or not links:
                target = rng.choice([c for c in ids if c != source])
                kind = rng.choice(["same-as", "restates", "responds-to", "contradicts"])
                event = linked(source, target, kind, occurred(), rng.choice([None, "See also."]))
            elif roll < 0.65:
                event = corrected(source, rng.choice(links).id)
            elif roll < 0.8:
                data = validate_payload("EntryCorrected", {
                    "target_event_id": rng.choice(links).id, "kind": "correction",
                    "changes": {"kind": rng.choice(["restates", "contradicts"])},
                    "reason": "Read again."})
                event = NewEvent(source, "EntryCorrected", data, occurred())
            elif roll < 0.85:
                event = corrected(source, store.read_claim(source)[0].id)
            elif roll < 0.92:
                store.redact(rng.choice(links).id, actor=ACTOR, reason="Takedown.")
                continue
            else:
                event = note(source)
            store.append([event], actor=ACTOR, now=clock)
        except ValidationFailed:
            continue  # a repeated link, a voided target, an entry voided twice: refused
    return ids


def folded_whole(store: EventStore, ids: list[str], target: str,
                 **bounds: str | None) -> list[dict[str, Any]]:
    """The links to ``target`` that folding every claim's whole stream shows."""
    found = []
    for claim in ids:
        for link in given(replay(store.read_claim(claim), scales=store.scales, **bounds)):
            if link.pop("target") == target:
                found.append(link)
    return sorted(found, key=inbound_order)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linked_from_is_what_folding_every_linking_claim_whole_gives(
    store: EventStore, seed: int,
) -> None:
    ids = random_log(store, seed)
    times = sorted({e.recorded_at for e in store.iter_all()})
    moments: list[dict[str, str | None]] = [{}]
    moments += [{"as_of": times[len(times) * k // 4]} for k in range(4)]
    moments += [{"valid_at": format_time(START + timedelta(days=d))} for d in (-10, 0)]
    moments += [{"as_of": times[len(times) // 2], "valid_at": format_time(START)}]
    shown = 0
    for target in ids:
        for bounds in moments:
            expected = folded_whole(store, ids, target, **bounds)
            assert linked_from(store, target, **bounds) == expected, (target, bounds)
            shown += len(expected)
    assert shown, "the generated log links nothing: the comparison would prove nothing"

