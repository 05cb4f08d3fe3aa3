"""Structured logs: one JSON object per line, one line per request, no secrets.

``configure()`` is called by the processes that serve (gunicorn workers, ``claimledger
worker``); tests and library use leave logging alone. Request lines carry method,
route, status, duration, actor and request id — never headers, bodies or tokens — and
any URL that reaches a log has its password masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from ledger.ids import new_uuid

#: the logger of the one-line-per-request access log
REQUEST_LOGGER = "claimledger.request"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@", re.I)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: the access log's logger (the same object ``getLogger`` answers, without its lock)
_REQUESTS = logging.getLogger(REQUEST_LOGGER)


def request_id(given: str | None) -> str:
    """A request's id: the client's ``X-Request-Id`` when it is safe to log, else a new one."""
    return given if given is not None and _REQUEST_ID.fullmatch(given) else new_uuid()


def mask_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_url(record.getMessage()),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = mask_url(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = mask_url(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str = "INFO", *, request_log: bool = True) -> None:
    """Send every log record to stderr as JSON lines (idempotent); see ``Settings.log_level``."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level.upper())
    if not request_log:
        logging.getLogger(REQUEST_LOGGER).setLevel(logging.WARNING)


def log_request(
    *, method: str, route: str, path: str, status: int, seconds: float, actor: str,
    request_id: str,
) -> None:
    """Emit the request's one access-log line."""
    if _REQUESTS.isEnabledFor(logging.INFO):
        _REQUESTS.info(
            "%s %s %d", method, route, status,
            extra={"method": method, "route": route, "path": path, "status": status,
                   "duration_ms": round(seconds * 1000, 3), "actor": actor,
                   "request_id": request_id},
        )
