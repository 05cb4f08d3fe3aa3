"""Applying the log to the views: batches, one atomic Redis transaction each.

A batch is a page of ``read_all``. For every claim it touches, the claim's whole
stream (up to the batch's last position) is folded with ``ledger.fold.fold`` and the
result stored verbatim; the claim records, the index changes and the partition's
checkpoint are written by one Lua script that first checks the checkpoint is where the
job left it. A worker killed at any instant therefore leaves either the whole batch or
none of it, and two jobs on one partition can never interleave: the loser's check
fails and it re-reads the checkpoint. The script also checks the partition's redaction
marker (``workers.purge``): a batch folded before a redaction was purged, possibly from
a cached stream still holding the text, is refused, and the projector drops its cache.
"""

from __future__ import annotations

import gc
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from redis import Redis

from ledger.envelope import RecordedEvent
from ledger.fold import fold, recent, summarize
from ledger.scales import Scales
from ledger.store import EventStore

from .config import Keys, PartitionKeys, ViewConfig, mget, partition_of, text
from .indexes import attributes, index_names, member
from .links import APPLY_LINKS, contribution, relevant, sources

Progress = Callable[[int, int], None]


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic GC: events and states hold no cycles, and with a large stream
    cache every full collection walks millions of objects for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class GenerationGone(RuntimeError):
    """The generation being written has no checkpoint: it was dropped or flushed."""


def dumps(value: Any) -> str:
    """Compact JSON as stored in the views."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: how many arguments ``entry_args`` gives each claim
ENTRY_FIELDS = 7


def entry_args(claim_id: str, state: Mapping[str, Any] | None) -> list[str | int]:
    """One claim's arguments to ``APPLY_CLAIMS`` (a batch's or a purge's): the same fields,
    ``ENTRY_FIELDS`` of them: id, member, index names, state, summary (what the brief list
    reads), attributes (what it filters on) and the recent state (what a claim page shows).

    ``state`` None deletes the claim's record and its index memberships.
    """
    if state is None:
        return [claim_id, "", "", "", "", "", ""]
    return [
        claim_id, member(state), "\n".join(index_names(state)), dumps(state),
        dumps(summarize(state)), "\n".join(sorted(attributes(state))), dumps(recent(state)),
    ]


class StreamCache:
    """Recently folded claim streams, so a claim spread over batches is read once."""

    def __init__(self, max_events: int) -> None:
        self.max_events = max_events
        self.size = 0
        self._streams: OrderedDict[str, list[RecordedEvent]] = OrderedDict()

    def clear(self) -> None:
        """Forget every stream (a redaction was purged: they may hold its text)."""
        self._streams.clear()
        self.size = 0

    def get(self, claim_id: str) -> list[RecordedEvent] | None:
        """A cached stream (marked as recently used), or None."""
        stream = self._streams.get(claim_id)
        if stream is not None:
            self._streams.move_to_end(claim_id)
        return stream

    def put(self, claim_id: str, stream: list[RecordedEvent]) -> None:
        """Remember a stream, evicting the least recently used beyond the bound."""
        old = self._streams.pop(claim_id, None)
        self.size += len(stream) - (len(old) if old else 0)
        self._streams[claim_id] = stream
        while self.size > self.max_events and self._streams:
            _, evicted = self._streams.popitem(last=False)
            self.size -= len(evicted)

    def stream(
        self, store: EventStore, claim_id: str, new: list[RecordedEvent], end: int
    ) -> list[RecordedEvent]:
        """A claim's events up to position ``end``, whose latest are ``new``: the cached
        stream and ``new``, else read from ``store``; remembered for the next batch."""
        cached = self.get(claim_id)
        if cached is not None and cached[-1].version >= new[-1].version:
            return cached[: new[-1].version]  # folded already (a link's other partition)
        if cached is not None and cached[-1].version + 1 == new[0].version:
            stream = cached + new
        elif new[0].version == 1:
            stream = new
        else:
            stream = [e for e in store.read_claim(claim_id) if e.position <= end]
            if not stream or stream[-1].version != new[-1].version:
                raise RuntimeError(f"claim {claim_id}: the log disagrees with read_all")
        self.put(claim_id, stream)
        return stream


class Projector:
    """Folds batches of the log into the views of one generation."""

    def __init__(self, redis: Redis, store: EventStore, config: ViewConfig, scales: Scales) -> None:
        self.redis = redis
        self.store = store
        self.config = config
        self.scales = scales
        self.keys: Keys = config.keys
        self.cache = StreamCache(config.cache_events)
        self.events_applied = 0
        self.batches = 0
        self._apply_script = redis.register_script(APPLY_BATCH)
        self._writer: ThreadPoolExecutor | None = None
        self._markers: dict[str, str] = {}

    def close(self) -> None:
        """Stop the thread that sends batches to Redis (started by the first ``run``)."""
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def checkpoint(self, generation: int, partition: int) -> int | None:
        """A partition's checkpoint in a generation, None if the generation is gone."""
        raw = text(self.redis.get(self.keys.part(generation, partition).checkpoint))
        return None if raw is None else int(raw)

    def run(
        self,
        generation: int,
        partitions: int,
        mine: Sequence[int],
        *,
        batch_size: int | None = None,
        until: int | None = None,
        on_batch: Progress | None = None,
    ) -> int:
        """Apply the log to partitions ``mine`` up to the head (or ``until``).

        Reads the log once for all of them; returns the lowest checkpoint reached.
        While Redis applies one batch, the next is read and folded: a batch is sent
        before the previous one's answer is known, which is safe because each batch
        applies only if the checkpoint is where the previous one left it.
        Raises ``GenerationGone`` if a checkpoint disappears.
        """
        size = batch_size or self.config.batch_size
        cps = {p: self._require(generation, p) for p in mine}
        expected = dict(cps)  # where the checkpoints will be once the batches in flight land
        inflight: list[tuple[int, int, int, Future[Any]]] = []
        if self._writer is None:  # kept for the next run: a lingering job runs one per wake
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="views-writer")
        writer = self._writer
        with _no_cycle_collection():
            try:
                while True:
                    after = min(expected.values())
                    if until is not None and after >= until:
                        break
                    limit = size if until is None else min(size, until - after)
                    markers = dict(zip(mine, self.markers(
                        [self.keys.part(generation, p) for p in mine]), strict=True))
                    page = self.store.read_all(after, limit)
                    if not page:
                        break
                    end = page[-1].position
                    slices: dict[int, list[RecordedEvent]] = {p: [] for p in mine}
                    linking = sources(page)
                    for event in page:
                        p = partition_of(event.claim_id, partitions)
                        if p in slices and event.position > expected[p]:
                            slices[p].append(event)
                    sent = []
                    for p in mine:
                        if expected[p] >= end:
                            continue
                        pk = self.keys.part(generation, p)
                        args = self.prepare(pk, slices[p], end, expected[p], markers[p],
                                            linking=linking, partition=p, partitions=partitions)
                        future = writer.submit(self._apply_script, keys=[pk.checkpoint], args=args)
                        sent.append((p, end, len(slices[p]), future))
                        expected[p] = end
                    if not self._land(inflight, cps):
                        self._land(sent, cps)
                        expected = {p: self._require(generation, p) for p in mine}
                        cps = dict(expected)
                        inflight = []
                        continue
                    inflight = sent
                    self.batches += 1
                    if on_batch is not None:
                        on_batch(len(page), end)
            finally:
                self._land(inflight, cps)
        return min(cps.values())

    def _land(self, sent: list[tuple[int, int, int, Future[Any]]], cps: dict[int, int]) -> bool:
        """Wait for batches in flight; record the checkpoints they moved. All landed?"""
        landed = True
        for p, end, count, future in sent:
            if future.result():
                cps[p] = end
                self.events_applied += count
            else:
                landed = False
        sent.clear()
        return landed

    def markers(self, parts: Sequence[PartitionKeys]) -> list[str]:
        """The partitions' redaction markers; drops the stream cache when one moved.

        Read before the log is, so a batch folded from a stream that predates a purge
        carries the old marker and ``APPLY_BATCH`` refuses it.
        """
        seen = [text(v) or "0" for v in mget(self.redis, [pk.redactions for pk in parts])]
        if any(self._markers.get(pk.prefix, v) != v for pk, v in zip(parts, seen, strict=True)):
            self.cache.clear()
        self._markers.update((pk.prefix, v) for pk, v in zip(parts, seen, strict=True))
        return seen

    def _require(self, generation: int, partition: int) -> int:
        cp = self.checkpoint(generation, partition)
        if cp is None:
            raise GenerationGone(f"generation {generation} partition {partition} has no checkpoint")
        return cp

    def fold_claims(
        self, events: Iterable[RecordedEvent], end: int
    ) -> dict[str, dict[str, Any] | None]:
        """The folded state of every claim the events touch, as of position ``end``."""
        touched: dict[str, list[RecordedEvent]] = {}
        for event in events:
            touched.setdefault(event.claim_id, []).append(event)
        states: dict[str, dict[str, Any] | None] = {}
        for claim_id, new in touched.items():
            stream = self.cache.stream(self.store, claim_id, new, end)
            states[claim_id] = fold(stream, self.scales)
        return states

    def link_args(
        self, linking: Mapping[str, list[RecordedEvent]], expected: int, end: int,
        partition: int, partitions: int,
    ) -> list[str]:
        """What each claim that links, in the batch, gives the partition (``workers.links``)."""
        args: list[str] = []
        for claim_id, events in linking.items():
            new = [e for e in events if e.position > expected]
            if not new:
                continue
            stream = self.cache.stream(self.store, claim_id, new, end)
            if relevant(stream, new):
                state = fold(stream, self.scales)
                args += [claim_id, contribution(state, partition, partitions, dumps)]
        return args

    def prepare(
        self, pk: PartitionKeys, events: Sequence[RecordedEvent], end: int, expected: int,
        marker: str, *, linking: Mapping[str, list[RecordedEvent]] | None = None,
        partition: int = 0, partitions: int = 1,
    ) -> list[str | int]:
        """Fold the claims a batch touches into the arguments of ``APPLY_BATCH``.

        ``linking`` (``workers.links.sources`` of the whole page) adds what each claim
        that links gives this partition's claims.
        """
        states = self.fold_claims(events, end)
        links = self.link_args(linking, expected, end, partition, partitions) if linking else []
        args: list[str | int] = [expected, end, pk.prefix, marker, len(links) // 2, *links]
        for claim_id, state in states.items():
            args += entry_args(claim_id, state)
        return args

    def apply(
        self, pk: PartitionKeys, events: Sequence[RecordedEvent], end: int, expected: int
    ) -> bool:
        """Write one batch and move the checkpoint from ``expected`` to ``end`` atomically.

        Returns False (writing nothing) if the checkpoint is not ``expected``: another
        job got there first, or the generation is gone.
        """
        [marker] = self.markers([pk])
        args = self.prepare(pk, events, end, expected, marker)
        return bool(self._apply_script(keys=[pk.checkpoint], args=args))


#: Lua: write the claims ``args[first..]`` (``entry_args``, seven each) under ``prefix``:
#: replace each record and move its index memberships (the old ones read from the
#: record). Returns the names of the index sets the claims left (a purge reports them).
APPLY_CLAIMS = """
local function apply_claims(prefix, args, first)
  local adds, removes = {}, {}
  local function push(sets, name, value)
    local list = sets[name]
    if not list then list = {}; sets[name] = list end
    list[#list + 1] = value
  end
  for i = first, #args, 7 do
    local key = prefix .. 'c:' .. args[i]
    local m, names, state = args[i + 1], args[i + 2], args[i + 3]
    local summary, attrs, recent = args[i + 4], args[i + 5], args[i + 6]
    local new = {}
    for name in string.gmatch(names, '[^\\n]+') do new[name] = true end
    local old = redis.call('HMGET', key, 'member', 'index')
    local kept = {}
    if old[1] then
      for name in string.gmatch(old[2] or '', '[^\\n]+') do
        if old[1] == m and new[name] then kept[name] = true else push(removes, name, old[1]) end
      end
    end
    if state == '' then
      redis.call('DEL', key)
    else
      for name in pairs(new) do
        if not kept[name] then push(adds, name, m) end
      end
      redis.call('HSET', key, 'state', state, 'member', m, 'index', names, 'summary', summary,
                 'attrs', attrs, 'recent', recent)
    end
  end
  local left = {}
  for name, members in pairs(removes) do
    for j = 1, #members, 1000 do
      redis.call('ZREM', prefix .. 'i:' .. name, unpack(members, j, math.min(j + 999, #members)))
    end
    if not adds[name] then left[#left + 1] = name end
  end
  for name, members in pairs(adds) do
    local key = prefix .. 'i:' .. name
    for j = 1, #members, 1000 do
      local zargs = {}
      for k = j, math.min(j + 999, #members) do
        zargs[#zargs + 1] = 0
        zargs[#zargs + 1] = members[k]
      end
      redis.call('ZADD', key, unpack(zargs))
    end
  end
  return left
end
"""

#: One batch as one atomic server-side step: check the checkpoint and the partition's
#: redaction marker, write every claim (``APPLY_CLAIMS``) and what claims that link give
#: this partition's claims (``APPLY_LINKS``; ARGV[5] counts them), then set the checkpoint. All
#: keys share the checkpoint's hash tag (one cluster slot).
APPLY_BATCH = APPLY_CLAIMS + APPLY_LINKS + """
local cp = redis.call('GET', KEYS[1])
if cp == false or cp ~= ARGV[1] then return 0 end
local prefix = ARGV[3]
if (redis.call('GET', prefix .. 'rx') or '0') ~= ARGV[4] then return 0 end
local links = tonumber(ARGV[5])
apply_claims(prefix, ARGV, 6 + 2 * links)
apply_links(prefix, ARGV, 6, links)
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
