"""The read side of the views, for the HTTP layer and the CLI.

Every read resolves the live generation through the pointer once and then reads only
that generation, so a rebuild's switch never mixes two generations in one answer.
Redis errors surface as ``ViewsUnavailable`` (answer 503 with ``Retry-After``).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import RedisError

from ledger.fold import recent, summarize
from ledger.timeutil import normalize_time

from .config import Keys, PartitionKeys, mget, partition_of, text
from .coordination import Live, read_pointer
from .indexes import SEPARATOR, matches, matches_attributes, wanted
from .links import linked_claims, with_inbound

MAX_LIMIT = 200
T = TypeVar("T")


class ViewsUnavailable(RuntimeError):
    """Redis cannot be reached, or there are no views yet (answer 503)."""


class ViewsBehind(TimeoutError):
    """The views did not reach ``min_position`` in time."""

    def __init__(self, position: int, checkpoint: int | None) -> None:
        super().__init__(f"views at {checkpoint}, not yet at position {position}")
        self.position = position
        self.checkpoint = checkpoint


class InvalidQuery(ValueError):
    """A bad cursor, limit or ``updated_after`` (answer 400)."""


class _Switched(Exception):
    """The generation changed under a read; start again."""


def encode_cursor(member: str) -> str:
    """An opaque cursor for an index member."""
    return base64.urlsafe_b64encode(member.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The index member a cursor stands for; raises ``InvalidQuery``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        moment, claim_id = raw.split(SEPARATOR, 1)
        normalize_time(moment)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidQuery("invalid cursor") from None
    if not claim_id:
        raise InvalidQuery("invalid cursor")
    return raw


class _Merge:
    """Newest-first merge of one index over every partition, fetched in chunks."""

    def __init__(self, redis: Redis, keys: list[str], upper: str, lower: str, chunk: int) -> None:
        self.redis, self.keys, self.lower, self.chunk = redis, keys, lower, chunk
        self.upper = [upper] * len(keys)
        self.buffers: list[list[str]] = [[] for _ in keys]
        self.done = [False] * len(keys)
        self._fill(range(len(keys)))

    def _fill(self, which: Any) -> None:
        which = [p for p in which if not self.done[p]]
        if not which:
            return
        pipe = self.redis.pipeline(transaction=False)
        for p in which:
            pipe.zrange(self.keys[p], self.upper[p], self.lower, desc=True, bylex=True,
                        offset=0, num=self.chunk)
        for p, members in zip(which, pipe.execute(), strict=True):
            got = [text(m) or "" for m in members]
            self.buffers[p] = list(reversed(got))  # pop() from the end = newest first
            if len(got) < self.chunk:
                self.done[p] = True
            if got:
                self.upper[p] = "(" + got[-1]

    def pop(self) -> tuple[str, int] | None:
        """The newest remaining member and its partition, or None when exhausted."""
        empty = [p for p, b in enumerate(self.buffers) if not b and not self.done[p]]
        if empty:
            self._fill(empty)
        best = -1
        for p, buffer in enumerate(self.buffers):
            if buffer and (best < 0 or buffer[-1] > self.buffers[best][-1]):
                best = p
        if best < 0:
            return None
        return self.buffers[best].pop(), best

    def exhausted(self) -> bool:
        """Whether nothing is left in any partition."""
        return all(self.done) and not any(self.buffers)


class ViewReader:
    """Reads the views: one claim, the filtered list, checkpoints and status."""

    def __init__(self, redis: Redis, *, namespace: str = "cl", max_poll: float = 0.02) -> None:
        self.redis = redis
        self.keys = Keys(namespace)
        self.max_poll = max_poll

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except RedisError as exc:
            raise ViewsUnavailable(f"views unavailable: {exc}") from exc

    def live(self) -> Live:
        """The live generation; raises ``ViewsUnavailable`` when there are no views."""
        with self._guard():
            live = read_pointer(self.redis, self.keys)
        if live is None:
            raise ViewsUnavailable("the views are being built")
        return live

    def _checkpoints(self, live: Live) -> list[int | None]:
        raw = mget(
            self.redis,
            [self.keys.part(live.generation, p).checkpoint for p in range(live.partitions)],
        )
        return [None if v is None else int(text(v) or 0) for v in raw]

    def checkpoint(self, claim_id: str | None = None) -> int:
        """How far the views have applied the log (a claim's partition, or all)."""
        live = self.live()
        with self._guard():
            cps = self._checkpoints(live)
        if claim_id is not None:
            cps = [cps[partition_of(claim_id, live.partitions)]]
        if any(cp is None for cp in cps):
            raise ViewsUnavailable("the views are incomplete")
        return min(cp or 0 for cp in cps)

    def wait_for_position(
        self, position: int, timeout: float = 2.0, *, claim_id: str | None = None
    ) -> Live:
        """Wait until the views reach ``position``; returns that generation.

        Polls with a short backoff (1 ms doubling up to ``max_poll``); raises
        ``ViewsBehind`` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            live = self.live()
            with self._guard():
                cps = self._checkpoints(live)
            if claim_id is not None:
                cps = [cps[partition_of(claim_id, live.partitions)]]
            reached = None if any(c is None for c in cps) else min(c or 0 for c in cps)
            if reached is not None and reached >= position:
                return live
            if time.monotonic() >= deadline:
                raise ViewsBehind(position, reached)
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, self.max_poll)

    def _pinned(
        self, read: Callable[[Live], T], min_position: int | None, timeout: float,
        claim_id: str | None = None,
    ) -> T:
        for _ in range(3):
            if min_position is not None and min_position > 0:
                live = self.wait_for_position(min_position, timeout, claim_id=claim_id)
            else:
                live = self.live()
            try:
                with self._guard():
                    return read(live)
            except _Switched:
                continue
        raise ViewsUnavailable("the views are switching generations; try again")

    def get_claim(
        self, claim_id: str, *, min_position: int | None = None, timeout: float = 2.0
    ) -> dict[str, Any] | None:
        """A claim's state from the views, or None; ``min_position`` waits (``ViewsBehind``).

        ``claim_id`` must be a UUID (``ValueError`` otherwise): only validated ids reach a key.
        """
        return self._claim_field(claim_id, "state", None, True, min_position, timeout)

    def get_summary(
        self, claim_id: str, *, min_position: int | None = None, timeout: float = 2.0
    ) -> dict[str, Any] | None:
        """A claim's summary (``ledger.fold.summarize``) from the views, or None."""
        # written before summaries were kept: derived from the state
        return self._claim_field(claim_id, "summary", summarize, False, min_position, timeout)

    def get_recent(self, claim_id: str) -> dict[str, Any] | None:
        """A claim's recent state (``ledger.fold.recent``) from the views, or None."""
        # written before recent states were kept: derived from the state
        return self._claim_field(claim_id, "recent", recent, True, None, 0.0)

    def _claim_field(
        self,
        claim_id: str,
        field: str,
        derive: Callable[[dict[str, Any]], dict[str, Any]] | None,
        links: bool,
        min_position: int | None,
        timeout: float,
    ) -> dict[str, Any] | None:
        """A claim's stored ``field`` (else ``derive`` of its state), with its inbound
        links when ``links``; None if the claim is not in the views."""
        claim_id = str(uuid.UUID(claim_id))

        def read(live: Live) -> dict[str, Any] | None:
            pk = self.keys.part(live.generation, partition_of(claim_id, live.partitions))
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(pk.claim(claim_id), field)
            if links:
                pipe.hvals(pk.linked_from(claim_id))
            pipe.get(pk.checkpoint)
            found, *inbound, cp = pipe.execute()
            if cp is None:
                raise _Switched
            if found is not None:
                value: dict[str, Any] = json.loads(text(found) or "null")
            elif derive is None:
                return None
            else:
                state = self.redis.hget(pk.claim(claim_id), "state")
                if state is None:
                    return None
                value = derive(json.loads(text(state) or "null"))
            return with_inbound(value, inbound[0]) if links else value

        return self._pinned(read, min_position, timeout, claim_id)

    def list_claims(
        self,
        *,
        status: str | None = None,
        verdict: str | None = None,
        claimant: str | None = None,
        outlet: str | None = None,
        tag: str | None = None,
        updated_after: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        min_position: int | None = None,
        timeout: float = 2.0,
        brief: bool = False,
        linked_to: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Claims newest update first, filtered; returns ``(items, next_cursor)``.

        ``linked_to`` keeps the claims linked to that claim or from it (``ClaimLinked``
        either way), read from that claim's record and its inbound links.

        Voided claims appear only with ``status="voided"``. ``next_cursor`` is None on
        the last page; a page may hold fewer than ``limit`` items when a narrow filter
        needed a long scan. ``brief`` answers each claim's summary instead of its state
        (a row costs the same however many entries the claim has).
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}")
        names = wanted({"status": status, "verdict": verdict, "claimant": claimant,
                        "outlet": outlet, "tag": tag})
        upper = "(" + decode_cursor(cursor) if cursor else "+"
        lower = "-"
        if updated_after:
            try:
                lower = "(" + normalize_time(updated_after) + "}"
            except ValueError as exc:
                raise InvalidQuery(f"updated_after: {exc}") from None

        if linked_to is not None:
            try:
                other = str(uuid.UUID(linked_to))
            except ValueError:
                raise InvalidQuery("linked_to must be a claim id") from None

            def linked(live: Live) -> tuple[list[dict[str, Any]], str | None]:
                return self._linked(live, other, names, upper, lower, limit, brief)

            return self._pinned(linked, min_position, timeout)

        def read(live: Live) -> tuple[list[dict[str, Any]], str | None]:
            return self._list(live, names, upper, lower, limit, brief)

        return self._pinned(read, min_position, timeout)

    def _primary(self, live: Live, names: set[str]) -> str:
        if "status:voided" in names:
            return "status:voided"
        if not names:
            return "all"
        ordered = sorted(names)
        pipe = self.redis.pipeline(transaction=False)
        for name in ordered:
            for p in range(live.partitions):
                pipe.zcard(self.keys.part(live.generation, p).index(name))
        sizes = pipe.execute()
        n = live.partitions
        totals = {name: sum(sizes[i * n:(i + 1) * n]) for i, name in enumerate(ordered)}
        return min(ordered, key=lambda name: totals[name])

    def _list(
        self, live: Live, names: set[str], upper: str, lower: str, limit: int,
        brief: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        parts: list[PartitionKeys] = [
            self.keys.part(live.generation, p) for p in range(live.partitions)
        ]
        primary = self._primary(live, names)
        merge = _Merge(self.redis, [pk.index(primary) for pk in parts], upper, lower,
                       chunk=min(max(limit + 1, 50), 500))
        items: list[dict[str, Any]] = []
        last = None
        budget = max(20 * limit, 2000)
        leftover = False
        while len(items) < limit and budget > 0:
            batch: list[tuple[str, int]] = []
            while len(batch) < min(limit - len(items) + 10, budget):
                popped = merge.pop()
                if popped is None:
                    break
                batch.append(popped)
            if not batch:
                break
            pipe = self.redis.pipeline(transaction=False)
            fields = ("summary", "member", "attrs") if brief else ("state", "member")
            for m, p in batch:
                pipe.hmget(parts[p].claim(m.split(SEPARATOR, 1)[1]), *fields)
            pipe.exists(parts[0].checkpoint)
            *rows, alive = pipe.execute()
            if not alive:
                raise _Switched
            for i, ((m, p), (found, stored, *attrs)) in enumerate(zip(batch, rows, strict=True)):
                budget -= 1
                last = m
                if text(stored) != m:
                    continue  # moved by a batch applied meanwhile
                if found is None or (brief and not attrs[0]):  # a record without a summary
                    state = self.redis.hget(parts[p].claim(m.split(SEPARATOR, 1)[1]), "state")
                    if state is None:
                        continue
                    claim = json.loads(text(state) or "null")
                    wanted_ = matches(claim, names)
                    claim = summarize(claim) if brief else claim
                elif brief:
                    claim = json.loads(text(found) or "null")
                    wanted_ = matches_attributes(set((text(attrs[0]) or "").split("\n")), names)
                else:
                    claim = json.loads(text(found) or "null")
                    wanted_ = matches(claim, names)
                if wanted_:
                    items.append(claim)
                    if len(items) == limit:
                        leftover = i + 1 < len(batch)
                        break
        more = leftover or not merge.exhausted()
        return items, encode_cursor(last) if (more and last is not None) else None

    def _linked(
        self, live: Live, claim_id: str, names: set[str], upper: str, lower: str, limit: int,
        brief: bool,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """``list_claims`` of the claims linked to or from ``claim_id`` (few: read them all)."""
        def part(claim: str) -> PartitionKeys:
            return self.keys.part(live.generation, partition_of(claim, live.partitions))

        rows = linked_claims(self.redis, part, claim_id, names, (upper, lower), brief)
        if rows is None:
            raise _Switched
        page = rows[:limit]
        more = len(rows) > limit
        return [claim for _, claim in page], encode_cursor(page[-1][0]) if more else None

    def projections(self, head: int) -> dict[str, Any]:
        """``GET /v1/projections``: head, checkpoint, lag, generation, rebuilding, …"""
        with self._guard():
            live = read_pointer(self.redis, self.keys)
            pipe = self.redis.pipeline(transaction=False)
            pipe.get(self.keys.building)
            pipe.get(self.keys.rebuild_lock)
            pipe.hget(self.keys.stats, "last_tick")
            building_raw, rebuild_job, last_tick = pipe.execute()
            cps = self._checkpoints(live) if live is not None else []
        building = json.loads(text(building_raw) or "null")
        checkpoint = None if not cps or None in cps else min(c or 0 for c in cps)
        return {
            "head": head,
            "checkpoint": checkpoint,
            "lag": None if checkpoint is None else max(0, head - checkpoint),
            "generation": live.generation if live else None,
            "partitions": live.partitions if live else None,
            "switched_at": live.switched_at if live else None,
            "rebuilding": rebuild_job is not None,
            "rebuild_job_id": text(rebuild_job),
            "building_generation": building["generation"] if building else None,
            "partition_checkpoints": cps,
            "last_tick": float(text(last_tick) or 0) or None,
        }
