"""Telling a lost Redis connection from a Redis that keeps refusing, and backing off.

A lost connection (Redis restarted, a network blip) is worth retrying at once: the next
attempt may well work. A Redis that answers but refuses the command (out of memory under
``noeviction``, a read-only replica, a cluster node answering ``MOVED`` to a plain
client, a missing ACL permission, a wrong password) will refuse the next attempt too;
retrying at once only burns CPU and floods the log. ``refusal`` names such an error,
``Backoff`` spaces the retries out and says why, at most once a ``log_every`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.cluster import RedisCluster
from redis.exceptions import (
    AskError,
    AuthenticationError,
    AuthenticationWrongNumberOfArgsError,
    AuthorizationError,
    ClusterCrossSlotError,
    ClusterDownError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: what each kind of refusal means for an operator
ADVICE = {
    "out_of_memory": "Redis is out of memory (maxmemory reached under noeviction):"
    " free memory, raise maxmemory or drop old view generations",
    "read_only": "Redis is a read-only replica: point the URL at the primary",
    "cluster": "Redis is a cluster node: use redis+cluster://host:port,… for the views",
    "no_permission": "Redis refuses the command for this user (ACL): grant the user"
    " the views' and queues' keys and commands",
    "auth": "Redis refuses the credentials: check the user and password in the URL",
    "misconfigured": "Redis refuses writes (MISCONF: it cannot save its snapshot)",
    "refused": "Redis refuses the command",
}

_PREFIXES = (
    ("OOM", "out_of_memory"),
    ("READONLY", "read_only"),
    ("MOVED", "cluster"),
    ("ASK", "cluster"),
    ("CROSSSLOT", "cluster"),
    ("CLUSTERDOWN", "cluster"),
    ("NOPERM", "no_permission"),
    ("WRONGPASS", "auth"),
    ("NOAUTH", "auth"),
    ("MISCONF", "misconfigured"),
)


def refusal(error: BaseException) -> str | None:
    """The kind of a persistent refusal (a key of ``ADVICE``), or None for a lost connection.

    Connection errors, timeouts and ``LOADING`` (Redis starting) are worth retrying at
    once; any other Redis error is a refusal that the next attempt would meet too.
    """
    if isinstance(error, OutOfMemoryError):
        return "out_of_memory"
    if isinstance(error, AskError | ClusterDownError | ClusterCrossSlotError):
        return "cluster"  # MOVED and ASK too: a plain client on a cluster node
    if isinstance(error, ReadOnlyError):
        return "read_only"
    if isinstance(error, NoPermissionError):
        return "no_permission"
    if isinstance(error, AuthenticationError | AuthorizationError
                  | AuthenticationWrongNumberOfArgsError):
        return "auth"
    if isinstance(error, ResponseError):
        message = str(error).lstrip()
        for prefix, kind in _PREFIXES:
            if message.startswith(prefix + " ") or message == prefix:
                return kind
        return "refused"
    if isinstance(error, RedisError) and not isinstance(
        error, RedisConnectionError | RedisTimeoutError
    ):
        return "refused"  # a reply we could not parse, a cluster client's own errors, …
    return None


def describe(kind: str, error: BaseException) -> str:
    """One line: what is wrong, what to do, and Redis' own words."""
    return f"{ADVICE.get(kind, ADVICE['refused'])} ({error})"


@dataclass
class Backoff:
    """Exponential delays between attempts while Redis refuses, and a rate-limited log line.

    ``failed`` answers the delay before the next attempt (``base`` doubling up to ``cap``)
    and whether to log now: on the first refusal, when the kind changes, and then at most
    once every ``log_every`` seconds. ``succeeded`` resets it and answers how long the
    refusals lasted (None when there were none).
    """

    base: float = 1.0
    cap: float = 30.0
    log_every: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    kind: str | None = None
    since: float | None = None
    logged_at: float | None = field(default=None)
    #: whether the end of the current refusals was already announced
    announced: bool = False

    def failed(self, kind: str) -> tuple[float, bool]:
        """Note one more refusal; answers ``(delay, log_now)``."""
        now = self.clock()
        if self.since is None or self.announced:
            self.since, self.announced = now, False
        changed = kind != self.kind
        self.kind = kind
        delay = min(self.cap, self.base * 2 ** min(self.failures, 62))
        self.failures += 1
        log_now = changed or self.logged_at is None or now - self.logged_at >= self.log_every
        if log_now:
            self.logged_at = now
        return delay, log_now

    def succeeded(self) -> float | None:
        """Reset after an attempt that worked; the seconds the refusals lasted, if any."""
        lasted = None if self.since is None else self.clock() - self.since
        self.failures, self.since, self.announced = 0, None, False
        return lasted


class Refused(RuntimeError):
    """Redis answers but refuses the views' commands (``kind`` is a key of ``ADVICE``)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(ADVICE.get(kind, ADVICE["refused"]))
        self.kind = kind
        self.detail = detail


def probe(redis: Any, probe_key: str) -> Refused | None:
    """Whether Redis refuses the views' commands: one small write and, for a plain
    client, whether the server is a cluster node. Connection errors propagate.

    A refusal found is answered (not raised), with the advice as its message and
    Redis' own words in ``detail``.
    """
    if not isinstance(redis, RedisCluster):
        try:
            info = redis.info("cluster")
        except ResponseError:
            info = {}  # INFO not granted to this user: the write below still tells
        if str(info.get("cluster_enabled", "0")) == "1":
            return Refused("cluster", "the server has cluster_enabled:1")
    try:
        redis.set(probe_key, b"1", px=60_000)
    except RedisError as exc:
        kind = refusal(exc)
        if kind is None:
            raise
        return Refused(kind, str(exc))
    return None
