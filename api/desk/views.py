"""The desk's blueprint: its hooks, its error pages and the table of its routes.

Plain Flask views (not part of the OpenAPI document) rendering Jinja templates. Reads
need a signed-in token (any role) unless ``LEDGER_PUBLIC_READ=1``; forms need the
``editor`` role and append through the API's own write path, validation included.

This module sits above the ones whose views it registers (they share ``pages``, never
the blueprint), so none of them imports it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import ClaimNotFound, EventNotFound, LedgerError, StoreUnavailable

from . import correcting, exports, reading, signin, similar, writing
from . import session as desk_session
from .limits import too_soon
from .pages import error_page
from .timeline import REDACTED, or_redacted

bp = Blueprint(
    "desk", __name__, url_prefix="/desk", template_folder="templates",
    static_folder="static", static_url_path="/static",
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

#: every desk page: its rule (under ``/desk``), its methods and its view (whose name is
#: the endpoint, ``desk.<name>``)
ROUTES: tuple[tuple[str, tuple[str, ...], Callable[..., BaseResponse]], ...] = (
    ("/sign-in", ("GET",), signin.sign_in_form),
    ("/sign-in", ("POST",), signin.sign_in),
    ("/sign-out", ("POST",), signin.sign_out),
    ("/claims/<uuid:claim_id>/correct", ("GET",), correcting.pick_entry),
    ("/claims/<uuid:claim_id>/entries/<uuid:event_id>/correct", ("GET",),
     correcting.correct_form),
    ("/claims/<uuid:claim_id>/entries/<uuid:event_id>/correct", ("POST",), correcting.correct),
    ("/claims.csv", ("GET",), exports.claims_csv),
    ("/claims/<uuid:claim_id>/record", ("GET",), exports.record),
    ("/", ("GET",), reading.claim_list),
    ("/claims/<uuid:claim_id>", ("GET",), reading.claim),
    ("/claims/<uuid:claim_id>/history", ("GET",), reading.history),
    ("/claims/<uuid:claim_id>/changes", ("GET",), reading.claim_changes),
    ("/claims/<uuid:claim_id>/events", ("GET",), reading.live),
    ("/similar", ("GET",), similar.similar),
    ("/new", ("GET",), writing.new_claim_form),
    ("/new", ("POST",), writing.new_claim),
    ("/claims/<uuid:claim_id>/<kind>", ("GET",), writing.entry_form),
    ("/claims/<uuid:claim_id>/<kind>", ("POST",), writing.add_entry),
)
for _rule, _methods, _view in ROUTES:
    bp.add_url_rule(_rule, view_func=_view, methods=list(_methods))


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
        response = error_page(429, "Too many requests",
                              f"Too many desk pages at once; try again in {wait} s.")
        response.headers["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and not desk_session.csrf_ok():
        return error_page(
            403, "Form not accepted",
            "This form has expired or did not come from the desk. Reload the page"
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


@bp.errorhandler(LedgerError)
def _ledger_error(error: LedgerError) -> Response:
    if isinstance(error, ClaimNotFound | EventNotFound):
        return error_page(404, "Not found", "There is no such claim.")
    if isinstance(error, StoreUnavailable):
        return error_page(503, "Unavailable", "The event store is unavailable; try again shortly.")
    return error_page(500, "Error", "The ledger could not do this.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return error_page(error.code or 500, error.name, error.description or "")
