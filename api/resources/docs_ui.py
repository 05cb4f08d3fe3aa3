"""``/docs``: Swagger UI from the installed ``flask-swagger-ui`` package, never from a CDN.

The page, the bundle, its stylesheet and our starter script all come from this origin,
so the Content-Security-Policy names no other host and allows no inline script: a
compromised CDN package cannot read the desk (same origin) or submit its forms.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from flask import Blueprint, Flask, Response, send_from_directory
from werkzeug.exceptions import NotFound

#: the CSP of /docs and its assets: this origin only, no inline script or style
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
#: the package's files /docs/assets serves (nothing else from its directory)
_PACKAGE_ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
_OWN = Path(__file__).parent / "static"
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>claim ledger API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body>
</html>
"""

bp = Blueprint("docs_ui", __name__)


def swagger_dist() -> Path:
    """The directory of Swagger UI's files inside the installed package."""
    return Path(str(importlib.resources.files("flask_swagger_ui") / "dist"))


@bp.get("/docs")
def page() -> Response:
    """The Swagger UI page for ``/openapi.json``."""
    response = Response(_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    """One of Swagger UI's files, or our starter script."""
    if name == "swagger-init.js":
        response = send_from_directory(_OWN, name, mimetype="text/javascript")
    elif name in _PACKAGE_ASSETS:
        response = send_from_directory(swagger_dist(), name)
    else:
        raise NotFound()
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def init_app(app: Flask) -> None:
    """Serve /docs and its assets."""
    app.register_blueprint(bp)
