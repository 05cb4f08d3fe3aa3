"""The WSGI entry point for gunicorn: ``gunicorn api.wsgi:app`` (settings from LEDGER_*)."""

from __future__ import annotations

from . import create_app, logs

logs.configure()
app = create_app()
