"""``/metrics``: the app's metrics, plus live gauges of the log and views read at scrape time."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from redis.exceptions import RedisError

from workers.config import queue_of
from workers.runner import queue_depth
from workers.views import ViewsUnavailable

from ..parsing import Blueprint
from ..state import ledger_state
from ..view_service import view_service

blp = Blueprint("metrics", __name__, description="Prometheus metrics")


@blp.route("/metrics")
class MetricsPage(MethodView):
    """``/metrics``."""

    @blp.response(200, {"type": "string"}, content_type="text/plain")
    def get(self) -> Response:
        """Prometheus text exposition format."""
        body = ledger_state().metrics.exposition() + live_gauges()
        return Response(body, content_type=CONTENT_TYPE_LATEST)


def live_gauges() -> bytes:
    """Gauges read at scrape time: log head, checkpoint size, projection lag, queues, rebuild.

    A part that cannot be read right now (Redis down) is left out, not reported as zero.
    """
    registry = CollectorRegistry()

    def gauge(name: str, text: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        metric = Gauge(name, text, list(labels), registry=registry)
        (metric.labels(*labels.values()) if labels else metric).set(value)

    store = ledger_state().store
    head = store.head()
    gauge("ledger_log_head", "The log's last position.", head)
    latest = store.latest_checkpoint()
    gauge("ledger_checkpoint_tree_size", "Tree size of the latest signed checkpoint.",
          latest.size if latest else 0)
    try:
        with view_service().reading() as reader:
            projections = reader.projections(head)
        depth = queue_depth(queue_of(view_service().redis))
    except (ViewsUnavailable, RedisError, OSError):  # the views are optional for a scrape
        return generate_latest(registry)
    gauge("ledger_projection_checkpoint", "Position the views have applied.",
          projections["checkpoint"])
    gauge("ledger_projection_lag_events", "Events appended but not yet in the views.",
          projections["lag"])
    gauge("ledger_projection_generation", "Live generation of the views.",
          projections["generation"])
    gauge("ledger_rebuild_in_progress", "1 while a rebuild of the views runs.",
          1 if projections["rebuilding"] else 0)
    jobs = Gauge("ledger_queue_depth", "Projection jobs by queue and state (queue:state).",
                 ["queue"], registry=registry)
    for queue, count in depth.items():
        jobs.labels(queue).set(count)
    return generate_latest(registry)
