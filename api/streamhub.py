"""The stream hub: live feeds served by one thread per worker process, not by request workers.

``StreamHandoff`` is WSGI middleware in front of the app. A ``GET`` of a live feed runs
through the app as usual (authentication, roles, the stream limit, parameters, headers,
metrics, the request log); when the view has prepared a stream (``sse_response``) and the
server gave us the plain client socket (gunicorn's sync and gthread workers do), the
middleware writes the response head itself, moves the connection to the process's
``StreamHub`` and tells gunicorn the response is complete: the request worker is free
at once, whatever the stream's lifetime.

The hub is a ``selectors`` loop. Subscribers waiting at the same position share one
``read_all`` per batch (live subscribers all wait at the head, so one read serves them
all), each event is framed once per batch, and frames are written to every socket
without blocking: a slow reader keeps its own backlog (bounded; beyond it the hub stops
reading for it, and it catches up from the log at its own position). A socket that
becomes readable is read at once, so a client that hangs up is dropped (its slot freed)
at once, not at the next heartbeat. Appends wake the hub in this process directly, and
in other processes through Redis (``resources.stream.Waker``); without Redis it polls
the log every second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import LedgerError
from ledger.store import EventStore

from .streamslots import StreamSlot

log = logging.getLogger("api.streamhub")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: environ key of the ``Handoff`` the middleware offers to the view
HANDOFF = "claimledger.stream_handoff"
#: events read from the log per query
BATCH = 200
#: a subscriber's unsent bytes beyond which the hub stops reading the log for it
MAX_BACKLOG = 256 * 1024
#: a feed ends after this share of LEDGER_STREAM_MAX_SECONDS at least (and all of it at most)
LIFETIME_SPREAD = 0.8
#: seconds between log polls (the hub also wakes on every announced append)
POLL_SECONDS = 1.0
_STREAM_PATHS = ("/v1/events/stream",)
_DESK_PREFIX, _DESK_SUFFIX = "/desk/claims/", "/events"
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
#: the hubs started in this process (``stop_all`` ends their feeds when the worker exits)
_HUBS: list[StreamHub] = []


@dataclass
class StreamRequest:
    """What the view decided: the events after ``after`` (of ``claim_id``), in ``slot``."""

    after: int
    claim_id: str | None
    slot: StreamSlot
    max_seconds: float
    heartbeat: float
    greeting: bytes


@dataclass
class Handoff:
    """Offered to the view in the environ; the view fills in ``stream`` to take it."""

    hub: StreamHub
    stream: StreamRequest | None = None


@dataclass(eq=False)
class Subscriber:
    """One open feed in the hub."""

    sock: socket.socket
    request: StreamRequest
    cursor: int
    deadline: float
    last_write: float
    out: bytearray = field(default_factory=bytearray)
    closing: bool = False
    writing: bool = False


def frame(position: int, data: str) -> bytes:
    """One SSE message: ``id:`` the position, ``data:`` one JSON line."""
    return f"id: {position}\ndata: {data}\n\n".encode()


class StreamHub:
    """One process's live feeds: a thread with a selector, one shared log read per batch."""

    def __init__(
        self,
        store: EventStore,
        format_event: Callable[[Any], str],
        on_count: Callable[[int], None] = lambda delta: None,
    ) -> None:
        self.store = store
        self.format_event = format_event
        self.on_count = on_count
        #: (passes that read the log, log reads): a pass reads once per distinct position
        self.stats = (0, 0)
        self._pid = os.getpid()
        self._incoming: list[tuple[socket.socket, bytes, StreamRequest]] = []
        self._lock = threading.Lock()
        self._subscribers: dict[int, Subscriber] = {}
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._woken = True
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="claimledger-stream-hub",
                                        daemon=True)
        self._thread.start()
        _HUBS.append(self)

    @property
    def alive(self) -> bool:
        """Whether the hub's thread runs in this process."""
        return self._pid == os.getpid() and self._thread.is_alive() and not self._stopping

    def count(self) -> int:
        """Feeds open in this hub (including ones not yet taken in)."""
        with self._lock:
            return len(self._subscribers) + len(self._incoming)

    def backlogs(self) -> list[tuple[int, int]]:
        """Each feed's position read up to and its unsent bytes (for tests and diagnostics)."""
        return [(sub.cursor, len(sub.out)) for sub in list(self._subscribers.values())]

    def add(self, sock: socket.socket, head: bytes, request: StreamRequest) -> None:
        """Take a client socket whose response head is ``head``; the hub owns both now."""
        sock.setblocking(False)
        with self._lock:
            self._incoming.append((sock, head, request))
        self.on_count(1)
        self.poke()

    def poke(self) -> None:
        """Wake the hub: events may have committed (never blocks, never raises)."""
        self._woken = True
        with contextlib.suppress(OSError):  # a full pipe: the hub is awake already
            self._wake_w.send(b"\0")

    def stop(self, timeout: float = 2.0) -> None:
        """End every feed with a closing comment and stop the thread."""
        self._stopping = True
        self.poke()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # --- the loop ----------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic()
        while True:
            try:
                timeout = self._timeout(next_poll)
                for key, mask in self._selector.select(timeout):
                    if key.fileobj is self._wake_r:
                        self._drain_wake()
                    else:
                        self._on_socket(key.data, mask)
                self._take_incoming()
                if self._stopping:
                    self._shutdown()
                    return
                now = time.monotonic()
                if self._woken or now >= next_poll:
                    self._woken = False
                    next_poll = now + POLL_SECONDS
                    if self._read_and_fan_out():
                        self._woken = True  # a full batch: more may be waiting
                self._timers(time.monotonic())
                for sub in list(self._subscribers.values()):
                    if sub.out or sub.closing:
                        self._flush(sub)
            except Exception:  # the hub must not die; a broken feed is dropped
                log.exception("stream hub: unexpected error")

    def _timeout(self, next_poll: float) -> float:
        if self._woken or self._incoming:
            return 0.0
        now = time.monotonic()
        soonest = next_poll
        for sub in self._subscribers.values():
            soonest = min(soonest, sub.deadline, sub.last_write + sub.request.heartbeat)
        return max(0.0, soonest - now)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        self._woken = True

    def _take_incoming(self) -> None:
        with self._lock:
            incoming, self._incoming = self._incoming, []
        now = time.monotonic()
        for sock, head, request in incoming:
            # feeds opened together (a desk after a restart) must not all reconnect together
            lifetime = request.max_seconds * random.uniform(LIFETIME_SPREAD, 1.0)  # noqa: S311
            sub = Subscriber(sock, request, request.after, now + lifetime, now)
            sub.out += head + request.greeting
            self._subscribers[sock.fileno()] = sub
            self._selector.register(sock, selectors.EVENT_READ, sub)
            self._woken = True  # its first read

    def _on_socket(self, sub: Subscriber, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            try:
                data = sub.sock.recv(4096)
            except BlockingIOError:
                data = b"?"
            except OSError:
                data = b""
            if not data:  # the client hung up: free it now
                self._drop(sub)
                return
        if mask & selectors.EVENT_WRITE:
            self._flush(sub)

    def _read_and_fan_out(self) -> bool:
        """One log read per distinct position among subscribers with room; True if a batch
        came back full."""
        groups: dict[int, list[Subscriber]] = {}
        for sub in self._subscribers.values():
            if not sub.closing and len(sub.out) < MAX_BACKLOG:
                groups.setdefault(sub.cursor, []).append(sub)
        if not groups:
            return False
        frames: dict[int, bytes] = {}
        full = False
        reads = 0
        for cursor, members in groups.items():
            try:
                events = self.store.read_all(cursor, BATCH)
            except LedgerError as exc:
                log.warning("live feed: cannot read the log (%s); closing %d streams",
                            exc, len(members))
                for sub in members:
                    self._close_politely(sub)
                continue
            reads += 1
            full = full or len(events) == BATCH
            if not events:
                continue
            for event in events:
                if event.position not in frames:
                    frames[event.position] = frame(event.position, self.format_event(event))
            last = events[-1].position
            for sub in members:
                self._deliver(sub, events, frames, last)
        passes, total = self.stats
        self.stats = (passes + 1, total + reads)  # one assignment: readers see both or neither
        return full

    def _deliver(self, sub: Subscriber, events: list[Any], frames: dict[int, bytes],
                 last: int) -> None:
        claim = sub.request.claim_id
        sent = False
        for event in events:
            if claim is None or event.claim_id == claim:
                sub.out += frames[event.position]
                sent = True
            elif event.position == last:  # skipped at the end: move the client's id
                sub.out += f"id: {last}\n\n".encode()
                sent = True
        sub.cursor = last
        if sent:
            sub.last_write = time.monotonic()

    def _timers(self, now: float) -> None:
        for sub in list(self._subscribers.values()):
            if sub.closing:
                continue
            if now >= sub.deadline:
                self._close_politely(sub)
            elif now - sub.last_write >= sub.request.heartbeat:
                sub.out += b": heartbeat\n\n"
                sub.last_write = now

    def _close_politely(self, sub: Subscriber) -> None:
        sub.out += b": stream closing; reconnect with Last-Event-ID\n\n"
        sub.closing = True

    def _flush(self, sub: Subscriber) -> None:
        if sub.out:
            try:
                sent = sub.sock.send(sub.out)
            except BlockingIOError:
                sent = 0
            except OSError:
                self._drop(sub)
                return
            del sub.out[:sent]
        if sub.closing and not sub.out:
            self._drop(sub)
            return
        want = bool(sub.out)
        if want != sub.writing:
            sub.writing = want
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            self._selector.modify(sub.sock, events, sub)

    def _drop(self, sub: Subscriber) -> None:
        fd = sub.sock.fileno()
        if self._subscribers.get(fd) is not sub:
            return
        del self._subscribers[fd]
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sub.sock)
        sub.sock.close()
        sub.request.slot.release()
        self.on_count(-1)

    def _shutdown(self) -> None:
        for sub in list(self._subscribers.values()):
            self._close_politely(sub)
            sub.sock.setblocking(True)
            sub.sock.settimeout(0.5)
            with contextlib.suppress(OSError):
                sub.sock.sendall(sub.out)
            sub.out.clear()
            self._drop(sub)


def stop_all() -> None:
    """End the feeds of every hub of this process (a worker about to exit)."""
    for hub in _HUBS:
        if hub.alive:
            hub.stop()


def is_stream_path(method: str, path: str) -> bool:
    """Whether a request may be a live feed the hub can take."""
    if method != "GET":
        return False
    return path in _STREAM_PATHS or (path.startswith(_DESK_PREFIX) and path.endswith(_DESK_SUFFIX))


def _plain_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client's own TCP socket when the server gives it and speaks plain HTTP/1.x
    (not TLS terminated by gunicorn: an ``ssl.SSLSocket`` is not a plain socket)."""
    sock = environ.get("gunicorn.socket")
    if type(sock) is not socket.socket:
        return None
    if environ.get("SERVER_PROTOCOL") not in ("HTTP/1.0", "HTTP/1.1"):
        return None
    return sock


def take_socket(sock: socket.socket) -> socket.socket:
    """Move the connection out of ``sock``: the caller gets it; ``sock`` is left holding a
    fresh unconnected socket, so whatever the server does with it (shut down, close)
    no longer touches the client."""
    fd = sock.fileno()
    moved = socket.socket(fileno=os.dup(fd))
    with socket.socket(sock.family, socket.SOCK_STREAM) as placeholder:
        os.dup2(placeholder.fileno(), fd)
    return moved


class StreamHandoff:
    """WSGI middleware moving prepared live feeds from the request worker to the hub."""

    def __init__(self, wsgi_app: WSGIApp, hub: Callable[[], StreamHub | None]) -> None:
        self.wsgi_app = wsgi_app
        self.hub = hub

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Run the app; hand a prepared feed to the hub instead of streaming it here."""
        if not is_stream_path(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")):
            return self.wsgi_app(environ, start_response)
        sock = _plain_socket(environ)
        hub = self.hub() if sock is not None else None
        if sock is None or hub is None:
            return self.wsgi_app(environ, start_response)
        offer = environ[HANDOFF] = Handoff(hub)
        held: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if offer.stream is not None and status.startswith("200") and exc_info is None:
                held.append((status, headers))
                return lambda data: None
            return start_response(status, headers, exc_info)

        answer = self.wsgi_app(environ, capture)
        stream, offer.stream = offer.stream, None
        if stream is None:
            return answer
        if not held:  # the app answered something else after all
            stream.slot.release()
            return answer
        if hasattr(answer, "close"):
            answer.close()
        status, headers = held[0]
        head = "".join(
            [f"HTTP/1.1 {status}\r\n",
             *(f"{k}: {v}\r\n" for k, v in headers if k.lower() not in _HOP_BY_HOP),
             "Connection: close\r\n\r\n"]
        ).encode("latin-1")
        try:
            start_response(status, headers)  # for the server's records; it sends nothing
            _response_done(start_response)
            client = take_socket(sock)
        except BaseException:
            stream.slot.release()
            raise
        hub.add(client, head, stream)
        return []


def _response_done(start_response: StartResponse) -> None:
    """Tell gunicorn the response went out (it must write nothing more, and close)."""
    response = getattr(start_response, "__self__", None)
    if response is not None and hasattr(response, "headers_sent"):
        response.headers_sent = True
        response.chunked = False
        response.must_close = True
