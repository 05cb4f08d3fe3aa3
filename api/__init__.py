"""The HTTP API: ``create_app`` builds a Flask app; nothing is built at import time.

The implementation lives in ``api.app`` and is imported only when an app is built, so
the ``claimledger`` command line does not pay for Flask when it does not serve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the API app.

    Settings come from the ``LEDGER_*`` environment; ``config`` may override any of them
    by upper-case name (``{"DATABASE_URL": "sqlite:///tmp/x.db", "PUBLIC_READ": True}``),
    pass a whole ``Settings`` as ``LEDGER_SETTINGS``, and set Flask options (``TESTING``).
    """
    from .app import build_app

    return build_app(config)
