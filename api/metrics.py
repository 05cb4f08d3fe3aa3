"""Prometheus metrics: requests, latency and appends by type (``/metrics`` serves them).

Under gunicorn the metrics are shared by all workers through prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set up by ``api/gunicorn_conf.py``);
without it, each process exposes its own.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

#: latency buckets in seconds, tuned for a service whose appends take about a millisecond
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One app's metrics, in a registry of its own (several apps may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledger_http_requests",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.appends = Counter(
            "ledger_events_appended",
            "Events appended through the API, by event type.",
            ["type"],
            registry=self.registry,
        )
        self.live_streams = Gauge(
            "ledger_live_streams",
            "Live feeds open (/v1/events/stream and desk claim pages), all workers together.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._appended: dict[str, Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() validates and locks; look each series up once
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def appended(self, event_type: str) -> None:
        """Count one appended event."""
        child = self._appended.get(event_type)
        if child is None:
            child = self._appended[event_type] = self.appends.labels(event_type)
        child.inc()

    def exposition(self) -> bytes:
        """The Prometheus text format: every worker's metrics in multiprocess mode."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
