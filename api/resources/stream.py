"""The live feed: ``GET /v1/events/stream``, every event as Server-Sent Events as it commits.

Each event is sent with ``id:`` = its position, so a client that reconnects with
``Last-Event-ID`` resumes exactly after the last event it saw. The log is the truth: a
stream always reads ``store.read_all(after=last)``; Redis pub/sub only wakes streams
early when any API process appends (an append hook publishes, and never fails the
append when Redis is down; streams then poll the log every second). Idle streams send
heartbeat comments, and every stream ends after ``LEDGER_STREAM_MAX_SECONDS`` so a
gunicorn worker is not pinned forever; clients reconnect with ``Last-Event-ID``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from flask import Flask, Response, current_app, request, stream_with_context
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields
from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError

from ledger.envelope import RecordedEvent
from ledger.errors import LedgerError
from ledger.store import EventStore

from .. import streamslots
from ..auth import principal, requires
from ..background import Coalesced
from ..parsing import MAX_POSITION, Blueprint, position
from ..state import ledger_state
from ..streamhub import HANDOFF, Handoff, StreamHandoff, StreamHub, StreamRequest
from ..streamslots import StreamSlot, principal_key

log = logging.getLogger("api.stream")

blp = Blueprint(
    "stream", __name__, url_prefix="/v1/events", description="The live event feed (SSE)"
)

#: the pub/sub channel appends are announced on (the message is the new head position)
CHANNEL = "claimledger:appended"
#: how long a client waits before reconnecting after a stream ends (the SSE ``retry:``)
RETRY_MS = 1000
#: seconds between log polls while Redis cannot wake the stream
POLL_SECONDS = 1.0
#: events read from the log per query
BATCH = 200
_EXTENSION = "claimledger.stream"
_HUB = "claimledger.streamhub"
_HUB_LOCK = threading.Lock()


class Waker:
    """Wakes streams when events commit: Redis pub/sub across processes, best effort."""

    def __init__(self, redis_url: str | None, *, channel: str = CHANNEL, backoff: float = 5.0):
        self.redis_url = redis_url
        self.channel = channel
        self.backoff = backoff
        self._client: Redis | None = None
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._sequence = 0
        self._head = 0
        self._announce = Coalesced(self._publish_head, "claimledger-live-feed-publish")
        #: called (from the appending thread) after each append of this process
        self.listeners: list[Callable[[], None]] = []

    def client(self) -> Redis | None:
        """The Redis client, or None when unconfigured or recently down."""
        if not self.redis_url or time.monotonic() < self._down_until:
            return None
        with self._lock:
            if self._client is None:
                self._client = Redis.from_url(
                    self.redis_url, socket_connect_timeout=0.25, socket_timeout=0.5
                )
            return self._client

    def down(self, error: Exception) -> None:
        """Note that Redis failed: skip it for ``backoff`` seconds (streams poll the log)."""
        if time.monotonic() >= self._down_until:
            log.warning("live feed: Redis unavailable (%s); streams poll the log", error)
        self._down_until = time.monotonic() + self.backoff

    def publish(self, events: Sequence[RecordedEvent]) -> None:
        """Append hook: announce the new head (returns at once, never raises).

        Streams in this process wake now; other processes hear of it through Redis from
        a background thread, once per burst — the log, not the message, is what they read.
        """
        if not events:
            return
        with self._changed:
            self._sequence += 1
            self._changed.notify_all()
        self._head = max(self._head, events[-1].position)
        for listener in self.listeners:
            listener()
        self._announce.poke()

    def _publish_head(self) -> None:
        client = self.client()
        if client is None:
            return
        try:
            client.publish(self.channel, str(self._head))
        except (RedisError, OSError) as exc:
            self.down(exc)

    def watch(self, poke: Callable[[], None]) -> None:
        """Call ``poke`` whenever another process announces an append (a daemon thread)."""

        def run() -> None:
            while True:
                subscription = self.subscribe()
                try:
                    while subscription.pubsub is not None:
                        try:
                            if subscription.pubsub.get_message(timeout=POLL_SECONDS):
                                poke()
                        except (RedisError, OSError, ValueError) as exc:
                            self.down(exc)
                            break
                finally:
                    subscription.close()
                time.sleep(self.backoff)  # Redis is down or unset: the hub polls the log

        threading.Thread(target=run, name="claimledger-stream-wakeups", daemon=True).start()

    def subscribe(self) -> Subscription:
        """A subscription that ``wait``s for the next announcement."""
        return Subscription(self)

    def sequence(self) -> int:
        """How many appends this process has announced."""
        return self._sequence

    def wait_local(self, seen: int, timeout: float) -> int:
        """Wait until this process announces an append after ``seen``; the new sequence."""
        with self._changed:
            self._changed.wait_for(lambda: self._sequence != seen, timeout=timeout)
            return self._sequence


class Subscription:
    """One stream's view of the announcements."""

    def __init__(self, waker: Waker) -> None:
        self.waker = waker
        self.pubsub: PubSub | None = None
        self.seen = waker.sequence()
        client = waker.client()
        if client is not None:
            try:
                pubsub = client.pubsub(  # type: ignore[no-untyped-call]
                    ignore_subscribe_messages=True
                )
                pubsub.subscribe(waker.channel)
                self.pubsub = pubsub
            except (RedisError, OSError) as exc:
                waker.down(exc)

    def wait(self, timeout: float) -> None:
        """Return when events may have committed, or after ``timeout`` seconds at most."""
        timeout = max(0.0, timeout)
        if self.pubsub is not None:
            try:
                if self.pubsub.get_message(timeout=timeout) is not None:
                    while self.pubsub.get_message(timeout=0) is not None:
                        pass  # one wake-up is enough for a burst of appends
                return
            except (RedisError, OSError, ValueError) as exc:
                self.waker.down(exc)
                self.close()
        self.seen = self.waker.wait_local(self.seen, min(timeout, POLL_SECONDS))

    def close(self) -> None:
        """Unsubscribe (quietly)."""
        if self.pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                self.pubsub.close()
            self.pubsub = None


def format_event(event: RecordedEvent) -> str:
    """One SSE message: ``id:`` the position, ``data:`` the envelope as one JSON line."""
    return f"id: {event.position}\ndata: {event_data(event)}\n\n"


def sse_events(
    store: EventStore,
    waker: Waker,
    after: int,
    *,
    max_seconds: float,
    heartbeat: float,
    claim_id: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """The text of one stream: events after ``after`` as they commit, until ``max_seconds``."""
    subscription = waker.subscribe()  # before the first read, so no append slips between
    try:
        started = last_write = clock()
        deadline = started + max_seconds
        cursor = sent = after
        yield greeting(after)
        while True:
            try:
                events = store.read_all(cursor, BATCH)
            except LedgerError as exc:
                log.warning("live feed: cannot read the log (%s); closing the stream", exc)
                return
            for event in events:
                cursor = event.position
                if claim_id is None or event.claim_id == claim_id:
                    yield format_event(event)
                    sent = cursor
                    last_write = clock()
            if cursor != sent:  # skipped other claims' events: move the client's Last-Event-ID
                yield f"id: {cursor}\n\n"
                sent = cursor
            if len(events) == BATCH:
                continue
            now = clock()
            if now >= deadline:
                break
            if now - last_write >= heartbeat:
                yield ": heartbeat\n\n"
                last_write = now
            subscription.wait(min(heartbeat - (now - last_write), deadline - now))
        yield ": stream closing; reconnect with Last-Event-ID\n\n"
    finally:
        subscription.close()


def waker() -> Waker:
    """This app's waker."""
    found: Waker = current_app.extensions[_EXTENSION]
    return found


def last_event_id(query_after: str | int | None) -> int:
    """Where to resume: the ``Last-Event-ID`` header, else ``after``, else 0 (400 if malformed)."""
    header = position(request.headers.get("Last-Event-ID"), "Last-Event-ID")
    if header is not None:
        return header
    return position(query_after, "after") or 0


def stream_slot() -> StreamSlot:
    """A slot of the caller's ``LEDGER_STREAM_LIMIT`` (429 ``too-many-streams`` when full)."""
    who = principal()
    key = principal_key(who.token_id, request.remote_addr)
    return streamslots.acquire(key, ledger_state().settings.stream_limit)


def sse_response(after: int, *, claim_id: str | None = None) -> Response:
    """A ``text/event-stream`` response of the events after ``after``, holding one of the
    caller's stream slots until it ends: handed to this process's stream hub when the
    server allows it (``LEDGER_STREAM_HUB``), else streamed by this request's worker."""
    state = ledger_state()
    settings = state.settings
    slot = stream_slot()
    try:
        offer = request.environ.get(HANDOFF)
        if settings.stream_hub and isinstance(offer, Handoff):
            offer.stream = StreamRequest(
                after, claim_id, slot, float(settings.stream_max_seconds),
                float(settings.stream_heartbeat_seconds), greeting(after).encode(),
            )
            response = Response(iter(()), mimetype="text/event-stream")
        else:
            body = counted(sse_events(
                state.store,
                waker(),
                after,
                max_seconds=float(settings.stream_max_seconds),
                heartbeat=float(settings.stream_heartbeat_seconds),
                claim_id=claim_id,
            ), state.metrics.live_streams)
            response = Response(stream_with_context(body), mimetype="text/event-stream")
            response.call_on_close(slot.release)
    except BaseException:
        slot.release()
        raise
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must not buffer the stream
    return response


def greeting(after: int) -> str:
    """The first lines of every stream: the reconnect delay and where it starts."""
    return f"retry: {RETRY_MS}\n: events after position {after}\n\n"


def counted(body: Iterator[str], gauge: Any) -> Iterator[str]:
    """``body``, counted in the live streams gauge while it runs."""
    gauge.inc()
    try:
        yield from body
    finally:
        gauge.dec()


def event_data(event: RecordedEvent) -> str:
    """An event's envelope as one JSON line (the ``data:`` of its message)."""
    return json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":"))


def stream_hub(app: Flask) -> StreamHub | None:
    """This process's stream hub for ``app`` (started on first use); None when disabled."""
    state = app.extensions["claimledger"]
    if not state.settings.stream_hub:
        return None
    hub: StreamHub | None = app.extensions.get(_HUB)
    if hub is None or not hub.alive:
        with _HUB_LOCK:
            hub = app.extensions.get(_HUB)
            if hub is None or not hub.alive:
                gauge = state.metrics.live_streams
                hub = StreamHub(state.store, event_data, gauge.inc)
                found: Waker = app.extensions[_EXTENSION]
                found.listeners.append(hub.poke)
                found.watch(hub.poke)
                app.extensions[_HUB] = hub
    return hub


class StreamQuerySchema(Schema):
    """Query of ``GET /v1/events/stream``."""

    after = fields.Integer(
        metadata={
            "description": "Start after this position (Last-Event-ID wins when sent).",
            "minimum": 0, "maximum": MAX_POSITION,
        },
    )
    claim_id = fields.UUID(metadata={"description": "Only this claim's events."})


class StreamHeadersSchema(Schema):
    """Headers of ``GET /v1/events/stream``."""

    last_event_id = fields.String(
        data_key="Last-Event-ID",
        metadata={"description": "The position of the last event received: resume after it."},
    )


@blp.route("/stream")
class Stream(MethodView):
    """``/v1/events/stream``."""

    @requires("auditor")
    @blp.arguments(StreamHeadersSchema, location="headers")
    @blp.arguments(StreamQuerySchema, location="query", unknown=RAISE)
    @blp.response(
        200,
        description="text/event-stream: `id:` is the position, `data:` the envelope as JSON;"
        " comment lines are heartbeats. The stream ends after LEDGER_STREAM_MAX_SECONDS;"
        " reconnect with Last-Event-ID. A token holds at most LEDGER_STREAM_LIMIT streams"
        " at once (429 too-many-streams beyond).",
        content_type="text/event-stream",
    )
    def get(self, _headers: dict[str, Any], query: dict[str, Any]) -> Response:
        """Every event as it commits, as Server-Sent Events, in position order."""
        after = last_event_id(query.get("after"))
        claim = query.get("claim_id")
        return sse_response(after, claim_id=str(claim) if claim is not None else None)


def init_app(app: Flask) -> None:
    """Give the app its waker, announce every append on Redis, and put the stream handoff
    in front of the app's WSGI callable."""
    state = app.extensions["claimledger"]
    found = Waker(state.settings.queues_url)
    app.extensions[_EXTENSION] = found
    state.append_hooks.append(found.publish)
    app.wsgi_app = StreamHandoff(  # type: ignore[method-assign]
        app.wsgi_app, lambda: stream_hub(app)
    )
