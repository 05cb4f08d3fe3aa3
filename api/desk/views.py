"""The desk's pages: the claim list, a claim with its timeline and forms, its history.

Plain Flask views (not part of the OpenAPI document) rendering Jinja templates. Reads
need a signed-in token (any role) unless ``LEDGER_PUBLIC_READ=1``; forms need the
``editor`` role and append through the API's own write path, validation included.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import (
    ClaimNotFound,
    EventNotFound,
    LedgerError,
    StoreUnavailable,
)

from ..state import ledger_state
from . import session as desk_session
from .dates import ZONE_COOKIE, DateError, zone_names, zone_of
from .forms import (
    FORMS_BY_KIND,
)
from .limits import too_soon
from .timeline import REDACTED, or_redacted

bp = Blueprint(
    "desk", __name__, url_prefix="/desk", template_folder="templates",
    static_folder="static", static_url_path="/static",
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_VERSION = re.compile(r"[vV]?([1-9][0-9]{0,17})")
VERDICT_VALUE = next(f for f in FORMS_BY_KIND["verdicts"].fields if f.name == "value")


bp.add_app_template_filter(or_redacted, "or_redacted")
bp.add_app_template_filter(lambda text: not text or _DAY.fullmatch(text) is not None, "is_day")
bp.add_app_template_filter(
    lambda day: datetime.strptime(day, "%Y-%m-%d").strftime("%d %b %Y"), "day_words")


@bp.context_processor
def _redacted() -> dict[str, str]:
    return {"REDACTED": REDACTED}


@bp.before_request
def _load_session() -> BaseResponse | None:
    """Who is signed in (as ``g.principal`` for the write path); CSRF on every POST."""
    if request.endpoint == "desk.static":
        return None
    g.desk_user = desk_session.signed_in()
    if g.desk_user is not None:
        g.principal = g.desk_user
    wait = too_soon(g.desk_user.token_id if g.desk_user is not None else None)
    if wait is not None:
        response = _page("error.html", 429, title="Too many requests",
                         message=f"Too many desk pages at once; try again in {wait} s.")
        response.headers["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and not desk_session.csrf_ok():
        return _page(
            "error.html", 403, title="Form not accepted",
            message="This form has expired or did not come from the desk. Reload the page"
            " and try again.",
        )
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    # not no-referrer: with it, browsers send "Origin: null" on form posts, and the CSRF
    # check compares the Origin with our own
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "desk.static":
        desk_session.save(response)
        response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, status: int = 200, **context: Any) -> Response:
    user = g.get("desk_user")
    body = render_template(
        f"desk/{template}",
        user=user,
        can_edit=user is not None and user.may("editor"),
        public_read=ledger_state().settings.public_read,
        csrf=desk_session.session().csrf,
        notice=desk_session.take_notice(),
        zone=current_zone(),
        zone_names=zone_names,
        **context,
    )
    return Response(body, status, mimetype="text/html")


def current_zone() -> str:
    """The time zone this editor's forms start in (the last one they used)."""
    zone = request.cookies.get(ZONE_COOKIE, "").strip()
    try:
        zone_of(zone)
    except DateError:
        return "UTC"
    return zone or "UTC"


def _sign_in_redirect() -> BaseResponse:
    return redirect(url_for("desk.sign_in_form", next=request.full_path.rstrip("?")))


def _reader() -> BaseResponse | None:
    """None when this visitor may read; else where to go instead."""
    if g.get("desk_user") is not None or ledger_state().settings.public_read:
        return None
    return _sign_in_redirect()


def _editor() -> BaseResponse | None:
    """None when this visitor may append; else a sign-in redirect or a 403 page."""
    user = g.get("desk_user")
    if user is None:
        return _sign_in_redirect()
    if not user.may("editor"):
        return _page("error.html", 403, title="Not allowed",
                     message=f"Your token has the {user.role} role; recording entries needs"
                     " the editor role.")
    return None


def _safe_next(target: str | None) -> str:
    """A desk path to go to after signing in; anything else (another site, a header break
    with CR or LF, any control character) goes to the list."""
    if (
        target
        and target.startswith("/desk/")
        and "\\" not in target
        and "//" not in target
        and target.isprintable()
    ):
        return target
    return url_for("desk.claim_list")


# --- sign-in ----------------------------------------------------------------------------
@bp.get("/sign-in")
def sign_in_form() -> BaseResponse:
    """The sign-in form: paste an API token."""
    return _page("sign_in.html", next=_safe_next(request.args.get("next")), error=None)


@bp.post("/sign-in")
def sign_in() -> BaseResponse:
    """Sign in with a token; the session keeps only its hash."""
    who = desk_session.sign_in(request.form.get("token", ""))
    target = _safe_next(request.form.get("next"))
    if who is None:
        return _page("sign_in.html", 401, next=target,
                     error="This token is unknown, revoked or malformed.")
    desk_session.notify(f"Signed in as {who.name} ({who.role}).")
    return redirect(target, 303)


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    """Forget the token."""
    desk_session.sign_out()
    desk_session.notify("Signed out.")
    return redirect(url_for("desk.claim_list"), 303)


# --- errors -------------------------------------------------------------------------------
@bp.errorhandler(LedgerError)
def _ledger_error(error: LedgerError) -> Response:
    if isinstance(error, ClaimNotFound | EventNotFound):
        return _page("error.html", 404, title="Not found", message="There is no such claim.")
    if isinstance(error, StoreUnavailable):
        return _page("error.html", 503, title="Unavailable",
                     message="The event store is unavailable; try again shortly.")
    return _page("error.html", 500, title="Error", message="The ledger could not do this.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return _page("error.html", status, title=error.name, message=error.description or "")


# the routes of the other pages (imported last: they use the blueprint and helpers above)
from . import correcting, exports, reading, similar, writing  # noqa: E402, F401
