"""Every route of the app with the role it needs, read from the app itself."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Flask

from api import create_app

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@dataclass(frozen=True)
class Route:
    """One method on one URL rule, in OpenAPI path form, and the role its view declares."""

    method: str
    path: str  # e.g. /v1/claims/{claim_id}
    role: str | None

    @property
    def writes(self) -> bool:
        """Whether a success appends to the log."""
        return self.method == "POST" and self.path.startswith("/v1/") and self.role == "editor"


def build_app() -> Flask:
    """An app on an in-memory store, for reading its routes and OpenAPI document."""
    return create_app({"DATABASE_URL": "sqlite:///:memory:", "TESTING": True})


def routes(app: Flask) -> list[Route]:
    """Every (method, rule) the app serves, HEAD and OPTIONS aside."""
    found = []
    for rule in app.url_map.iter_rules():
        view: Any = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            handler = getattr(view_class, method.lower(), None) if view_class else view
            role = getattr(handler, "required_role", None)
            if role is None and rule.rule.startswith("/v1/"):
                role = "admin"  # api.auth fails closed
            found.append(Route(method, _CONVERTER.sub(r"{\1}", rule.rule), role))
    return found
