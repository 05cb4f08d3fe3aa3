"""The editor's desk: server-rendered pages under ``/desk/`` (not part of the OpenAPI document)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the desk's blueprint (pages, forms, static files)."""
    from .views import bp

    app.register_blueprint(bp)
