"""The API's side of the views: a Redis client, the reader, catch-up triggers, 503s.

Writes never depend on Redis: the append hook only wakes a background thread that asks
for a catch-up (``request_catch_up`` never raises and backs off while Redis is down),
so an append neither fails nor waits on Redis. Reads from the views go through
``ViewService.reading``, which turns Redis failures into ``ViewsUnavailable`` and, after
a connection failure, skips Redis for ``BACKOFF`` seconds so a dead (or unreachable)
Redis costs each request nothing rather than a connection timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ledger.envelope import RecordedEvent
from workers.config import ViewConfig, connect_views, is_cluster_url, queue_of
from workers.coordination import request_catch_up
from workers.refusals import ADVICE, probe, refusal
from workers.views import InvalidQuery, ViewReader, ViewsBehind, ViewsUnavailable

from .background import Coalesced
from .errors import PROBLEM_TYPE, RETRY_AFTER_SECONDS, problem_response
from .schemas import ProblemSchema
from .state import LedgerState
from .view_config import view_config

log = logging.getLogger("api.projections")

EXTENSION = "claimledger.views"
#: how long a read waits for the views to reach ``min_position``
WAIT_SECONDS = 2.0
#: seconds reads skip Redis after failing to reach it
BACKOFF = 1.0
#: Redis socket timeouts: a dead or hung Redis never holds a request for long
CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 0.5
#: the readiness check that reports Redis without failing readiness (see docs/api.md)
READY_CHECK = "redis"
#: how a 503 of the views is documented (``@blp.alt_response(503, **UNAVAILABLE_DOC)``)
UNAVAILABLE_DOC: dict[str, Any] = {
    "schema": ProblemSchema,
    "content_type": PROBLEM_TYPE,
    "description": "The views are unavailable (Redis down, views being built) or behind"
    " min_position after the wait; Retry-After says when to ask again.",
    "headers": {"Retry-After": {"description": "Seconds", "schema": {"type": "integer"}}},
}


def connect(url: str) -> Redis:
    """A lazy Redis client with short timeouts (bytes replies, as RQ needs).

    A command is retried once after a connection error (a pooled connection Redis
    closed), never after a timeout: a hung Redis costs one ``SOCKET_TIMEOUT``.
    """
    return Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        retry=Retry(
            ExponentialBackoff(cap=0.05, base=0.01), 1, supported_errors=(RedisConnectionError,)
        ),
    )


class CatchUpTrigger:
    """The append hook: asks for a catch-up from a background thread (one per burst)."""

    def __init__(self, redis: Redis, config: ViewConfig) -> None:
        self.redis = redis
        self.config = config
        self._call = Coalesced(self._request, "claimledger-catch-up-trigger")

    def __call__(self, events: Sequence[RecordedEvent]) -> None:
        """Ask for a catch-up after ``events`` committed (returns at once, never raises)."""
        if events:
            self._call.poke()

    def _request(self) -> None:
        request_catch_up(self.redis, self.config)


@dataclass
class ViewService:
    """What the API needs to read the views and keep them moving."""

    redis: Redis
    reader: ViewReader
    config: ViewConfig
    trigger: CatchUpTrigger
    _down_until: float = field(default=0.0, repr=False)

    @classmethod
    def from_url(cls, url: str, config: ViewConfig, queue_url: str | None = None) -> ViewService:
        """A service on lazy Redis clients (nothing is connected until first use).

        ``url`` holds the views (a ``redis+cluster://`` URL for a Redis Cluster),
        ``queue_url`` RQ's queues (default: ``url``, which must then be standalone).
        """
        queue = connect(queue_url) if queue_url and queue_url != url else None
        if queue is None and not is_cluster_url(url):
            redis = connect(url)
        else:
            redis = connect_views(url, queue=queue, timeout=SOCKET_TIMEOUT,
                                  connect_timeout=CONNECT_TIMEOUT)
        reader = ViewReader(redis, namespace=config.namespace)
        return cls(redis, reader, config, CatchUpTrigger(redis, config))

    def retry_after(self) -> int:
        """Seconds a client should wait before asking the views again."""
        left = self._down_until - time.monotonic()
        return max(RETRY_AFTER_SECONDS, int(left + 0.999))

    @contextmanager
    def reading(self) -> Iterator[ViewReader]:
        """Use the reader; Redis failures become ``ViewsUnavailable`` (and start a backoff)."""
        if time.monotonic() < self._down_until:
            raise ViewsUnavailable("Redis could not be reached moments ago")
        try:
            yield self.reader
        except ViewsBehind:  # a TimeoutError, hence an OSError: not a Redis failure
            raise
        except ViewsUnavailable as exc:
            if isinstance(exc.__cause__, RedisConnectionError | RedisTimeoutError | OSError):
                self._note_down(exc.__cause__)
            raise
        except (RedisError, OSError) as exc:  # RQ and status calls outside the reader
            if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
                self._note_down(exc)
            raise ViewsUnavailable(f"views unavailable: {exc}") from exc

    def _note_down(self, error: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("views: Redis unavailable (%s); reads fall back or answer 503", error)
        self._down_until = time.monotonic() + BACKOFF

    def ping(self) -> None:
        """Readiness: raises when Redis does not answer, ``Refused`` when it refuses."""
        refused = probe(self.redis, self.config.keys.probe)
        if refused is not None:
            raise refused
        queue = queue_of(self.redis)
        if queue is not self.redis:
            queue.ping()


def view_service() -> ViewService:
    """The current app's ``ViewService``."""
    service: ViewService = current_app.extensions[EXTENSION]
    return service


def _unavailable(error: ViewsUnavailable) -> Response:
    log.info("views unavailable: %s", error)
    kind = refusal(error.__cause__) if error.__cause__ is not None else None
    if kind is not None:
        return problem_response(
            503,
            f"The claim views are unavailable: {ADVICE[kind]}. Single claims are still"
            " served from the log.",
            slug="views-unavailable",
            headers={"Retry-After": str(view_service().retry_after())},
            refusal=kind,
        )
    return problem_response(
        503,
        "The claim views are unavailable (Redis is down, or they are being built);"
        " retry shortly. Single claims are still served from the log.",
        slug="views-unavailable",
        headers={"Retry-After": str(view_service().retry_after())},
    )


def _behind(error: ViewsBehind) -> Response:
    return problem_response(
        503,
        f"The views have not reached position {error.position} yet"
        f" (they are at {error.checkpoint}); retry shortly.",
        slug="views-behind",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        checkpoint=error.checkpoint,
    )


def _invalid(error: InvalidQuery) -> Response:
    message = str(error)
    field_name = next(
        (name for name in ("cursor", "limit", "updated_after") if name in message), "query"
    )
    return problem_response(
        422, "The request failed validation.", slug="validation-failed",
        errors={field_name: [message]},
    )


def init_app(app: Flask, state: LedgerState) -> ViewService:
    """Give the app its ``ViewService``, the catch-up append hook and the Redis ready check."""
    service = ViewService.from_url(state.settings.redis_url, view_config(state.settings),
                                   state.settings.queues_url)
    app.extensions[EXTENSION] = service
    state.append_hooks.append(service.trigger)
    state.ready_checks[READY_CHECK] = service.ping
    state.optional_checks.add(READY_CHECK)
    app.register_error_handler(ViewsUnavailable, _unavailable)
    app.register_error_handler(ViewsBehind, _behind)
    app.register_error_handler(InvalidQuery, _invalid)
    return service

