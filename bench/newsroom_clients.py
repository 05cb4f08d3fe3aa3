"""The newsroom benchmark's clients: writers, readers and live feeds, one process each.

Each function runs in its own process (``bench.newsroom`` forks them) and sends what it
measured through a pipe.
"""

from __future__ import annotations

import http.client
import json
import re
import selectors
import socket
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

NOTE = json.dumps({"text": "Checked with the Tehran bureau."}).encode()
_ID = re.compile(rb"^id: ?(\d+)$", re.MULTILINE)


def call(port: int, method: str, path: str, token: str, body: bytes | None = None,
          timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def writers(port: int, token: str, claims: list[str], count: int, seconds: float,
             out: Connection) -> None:
    """Append notes round-robin for ``seconds``; send (latencies, positions, errors)."""
    latencies: list[float] = []
    positions: list[int] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def write(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            path = f"/v1/claims/{claims[i % len(claims)]}/notes"
            i += count
            began = time.perf_counter()
            try:
                status, body = call(port, "POST", path, token, NOTE)
            except OSError:
                errors[0] += 1
                continue
            latencies.append(time.perf_counter() - began)
            if status == 201:
                positions.append(json.loads(body)["position"])
            else:
                errors[0] += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send((latencies, positions, errors[0]))


def readers(port: int, token: str, claims: list[str], count: int, seconds: float,
             out: Connection) -> None:
    """Load the list and histories in turn for ``seconds``; send latencies by operation."""
    latencies: dict[str, list[float]] = {"list": [], "history": []}
    errors = [0]
    stop = time.monotonic() + seconds

    def read(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            op = "list" if i % 2 else "history"
            path = ("/v1/claims?limit=20" if op == "list"
                    else f"/v1/claims/{claims[i % len(claims)]}/history")
            i += 1
            began = time.perf_counter()
            try:
                status, _ = call(port, "GET", path, token)
            except OSError:
                errors[0] += 1
                continue
            latencies[op].append(time.perf_counter() - began)
            errors[0] += status != 200

    threads = [threading.Thread(target=read, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send((latencies, errors[0]))


class _Feed:
    """One feed's connection and what it has received."""

    def __init__(self, token: str, after: int) -> None:
        self.token, self.last = token, after
        self.received: list[int] = []
        self.buffer = b""
        self.head_done = False
        self.refused = 0
        self.sock: socket.socket | None = None


def feeds(port: int, tokens: list[str], count: int, after: int, ready: Any,
           until: Any, out: Connection) -> None:
    """Hold ``count`` feeds open on one selector; reconnect with Last-Event-ID when one
    ends; once ``until`` holds a head position, wait (60 s at most) for every feed to
    reach it; send each feed's received positions and refusals."""
    selector = selectors.DefaultSelector()
    feeds = [_Feed(tokens[n // 8], after) for n in range(count)]

    def connect(feed: _Feed) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            f"GET /v1/events/stream HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer "
            f"{feed.token}\r\nLast-Event-ID: {feed.last}\r\n\r\n".encode()
        )
        sock.setblocking(False)
        feed.sock, feed.buffer, feed.head_done = sock, b"", False
        selector.register(sock, selectors.EVENT_READ, feed)

    def consume(feed: _Feed) -> None:
        if not feed.head_done:
            head, sep, rest = feed.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 200"):
                feed.refused += 1
                feed.buffer = b""
                return
            feed.head_done, feed.buffer = True, rest
        *messages, feed.buffer = feed.buffer.split(b"\n\n")
        for message in messages:
            found = _ID.search(message)
            if found is None:
                continue
            position = int(found.group(1))
            if b"\ndata:" in message or message.startswith(b"data:"):
                feed.received.append(position)
            feed.last = position

    for feed in feeds:
        connect(feed)
    ready.set()
    deadline = None
    while True:
        target = until.value
        if target and deadline is None:
            deadline = time.monotonic() + 60
        if target and all(f.last >= target for f in feeds):
            break
        if deadline is not None and time.monotonic() > deadline:
            break
        for key, _ in selector.select(0.2):
            feed = key.data
            assert feed.sock is not None
            try:
                chunk = feed.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if chunk:
                feed.buffer += chunk
                consume(feed)
            else:  # the stream ended (LEDGER_STREAM_MAX_SECONDS): reconnect from the last id
                selector.unregister(feed.sock)
                feed.sock.close()
                connect(feed)
    out.send([(f.received, f.refused) for f in feeds])
    for feed in feeds:
        if feed.sock is not None:
            feed.sock.close()
