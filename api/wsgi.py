"""The WSGI entry point for gunicorn: ``gunicorn api.wsgi:app`` (settings from LEDGER_*)."""

from __future__ import annotations

from . import create_app, request_log
from .settings import Settings

_settings = Settings.from_env()
request_log.configure(_settings.log_level, request_log=_settings.request_log)
app = create_app({"LEDGER_SETTINGS": _settings})
