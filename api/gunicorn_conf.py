"""gunicorn settings for the API (``gunicorn -c python:api.gunicorn_conf api.wsgi:app``).

- Prometheus multiprocess mode: the master makes a fresh metrics directory before any
  worker starts, marks dead workers, and removes the directory when it exits, so
  ``/metrics`` shows every worker's counts whichever worker answers.
- A run directory for the workers' stream slot files (``api/streamslots.py``), so the
  per-token limit on live streams holds across workers; removed when the master exits.
- gunicorn's own refusals (a malformed request line, headers over the limits) are
  answered as RFC 9457 problems like every other error, not as HTML.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from typing import Any

from gunicorn import util

#: room for long headers (a 10,000-character Idempotency-Key is answered by the API)
limit_request_field_size = 16384
limit_request_line = 8190
graceful_timeout = 10
#: a management socket at a fixed path would clash between servers on one machine
control_socket_disable = True
_OWNED_DIR = "CLAIMLEDGER_METRICS_DIR_OWNED"
#: the run directory (stream slots) this master made, shared by its workers
_RUN_DIR = "CLAIMLEDGER_RUN_DIR"


def _write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's ``util.write_error``, answering ``application/problem+json``."""
    detail = message[:300] or reason
    body = json.dumps(
        {"type": "about:blank", "title": reason, "status": status, "detail": detail}
    ).encode("ascii")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        "Content-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)


def on_starting(server: Any) -> None:
    """In the master, before workers fork: problem errors and the metrics directory."""
    util.write_error = _write_problem
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        for name in os.listdir(path):  # stale files from an earlier run would be summed in
            if name.endswith(".db"):
                os.unlink(os.path.join(path, name))
    else:
        path = tempfile.mkdtemp(prefix="claimledger-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
        os.environ[_OWNED_DIR] = path
    _make_run_dir()


def _make_run_dir() -> None:
    """A fresh run directory for this master's workers (their stream slot files)."""
    os.environ[_RUN_DIR] = tempfile.mkdtemp(prefix="claimledger-run-")


def child_exit(server: Any, worker: Any) -> None:
    """A worker died: let prometheus_client drop its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    """A worker is leaving: its stream hub ends its feeds with a closing comment."""
    from api.streamhub import stop_all

    stop_all()


def on_exit(server: Any) -> None:
    """The master is leaving: remove the metrics directory it made."""
    for name in (_OWNED_DIR, _RUN_DIR):
        path = os.environ.get(name)
        if path:
            shutil.rmtree(path, ignore_errors=True)
