"""The desk's pages: the claim list, a claim with its timeline and forms, its history.

Plain Flask views (not part of the OpenAPI document) rendering Jinja templates. Reads
need a signed-in token (any role) unless ``LEDGER_PUBLIC_READ=1``; forms need the
``editor`` role and append through the API's own write path, validation included.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import (
    ClaimNotFound,
    EventNotFound,
    LedgerError,
    StoreUnavailable,
    ValidationFailed,
)
from ledger.store.base import new_uuid
from ledger.timeutil import normalize_time
from workers.views import InvalidQuery, ViewsUnavailable

from ..errors import Problem, flatten, problem_response
from ..projections import view_service
from ..resources.stream import last_event_id, sse_response
from ..schemas import STATUSES
from ..state import ledger_state
from ..writing import append_event
from . import session as desk_session
from .claimpage import HISTORY_PAGE, changes, claim_page, current_state, history_page
from .forms import (
    ENTRY_FORMS,
    FORMS_BY_KIND,
    NEW_CLAIM,
    FormInputError,
    FormSpec,
    FormState,
    body_from_form,
    form_time,
    options_for,
    place_errors,
)
from .limits import too_soon
from .listing import FILTERS, list_claims, verify_claim
from .timeline import REDACTED, STYLES, details, legend_icon, or_redacted, summary

bp = Blueprint(
    "desk", __name__, url_prefix="/desk", template_folder="templates",
    static_folder="static", static_url_path="/static",
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_VERSION = re.compile(r"[vV]?([1-9][0-9]{0,17})")
VERDICT_VALUE = next(f for f in FORMS_BY_KIND["verdicts"].fields if f.name == "value")


bp.add_app_template_filter(or_redacted, "or_redacted")


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
        **context,
    )
    return Response(body, status, mimetype="text/html")


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
    if target and target.startswith("/desk/") and "\\" not in target and "//" not in target:
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


# --- reading ------------------------------------------------------------------------------
@bp.get("/")
def claim_list() -> BaseResponse:
    """Claims with their status and verdict, filtered like ``GET /v1/claims``."""
    denied = _reader()
    if denied is not None:
        return denied
    store = ledger_state().store
    filters = {k: v.strip() for k in FILTERS if (v := request.args.get(k, "")).strip()}
    try:
        page = list_claims(filters, cursor=request.args.get("cursor") or None)
    except ViewsUnavailable:
        response = _page(
            "error.html", 503, title="The list is unavailable",
            message="The claim list is read from the views, which are being built or cannot"
            " be reached; try again shortly. Each claim's own page still works.",
        )
        response.headers["Retry-After"] = str(view_service().retry_after())
        return response
    except InvalidQuery as exc:
        return _page("error.html", 422, title="Not a valid filter", message=f"{exc}.")
    verdicts = options_for(VERDICT_VALUE, scales=store.scales, targets=())
    return _page("list.html", page=page, filters=filters, statuses=STATUSES, verdicts=verdicts)


def _as_of() -> tuple[str | None, str | None, str]:
    """The page's ``as_of`` (canonical), an error about it, and the text as typed."""
    raw = request.args.get("as_of", "").strip()
    if not raw:
        return None, None, ""
    try:
        return normalize_time(form_time(raw)), None, raw
    except ValueError as exc:
        return None, f"Not a time: {exc}.", raw


def _fresh_forms(specs: tuple[FormSpec, ...]) -> dict[str, FormState]:
    return {spec.kind: FormState() for spec in specs}


def _claim_page(claim_id: str, failed: tuple[str, FormState] | None = None,
                status: int = 200) -> Response:
    store = ledger_state().store
    as_of, as_of_error, as_of_text = _as_of()
    upto = request.args.get("upto", type=int)
    page = claim_page(store, claim_id, upto=upto, as_of=as_of)
    forms = _fresh_forms(ENTRY_FORMS)
    if failed is not None:
        forms[failed[0]] = failed[1]
    chosen = request.args.get("target")
    if chosen and failed is None:
        forms["corrections"].values["target_event_id"] = chosen
    return _page(
        "claim.html", status,
        claim_id=claim_id, page=page, state=page.state, events=page.events,
        voided=page.voided, by_id=page.by_id, corrected=page.corrected, as_of=as_of,
        as_of_error=as_of_error, as_of_text=as_of_text, timeline=page.timeline,
        styles=STYLES, legend_icon=legend_icon,
        specs=ENTRY_FORMS if as_of is None else (), forms=forms, open_form=(
            failed[0] if failed else ("corrections" if chosen else None)),
        options=lambda item: options_for(item, scales=store.scales, targets=()),
        new_key=lambda: secrets.token_urlsafe(24), head=store.head(),
        total=page.total if as_of is None else store.claim_version(claim_id),
        summary=summary, details=details,
    )


@bp.get("/claims/<uuid:claim_id>")
def claim(claim_id: Any) -> BaseResponse:
    """A claim: state, timeline, entries and forms; ``as_of`` replays it."""
    denied = _reader()
    return denied if denied is not None else _claim_page(str(claim_id))


@bp.get("/claims/<uuid:claim_id>/history")
def history(claim_id: Any) -> BaseResponse:
    """A page of a claim's events with their hashes, verified with the auditor's verifier."""
    denied = _reader()
    if denied is not None:
        return denied
    state_ = ledger_state()
    store = state_.store
    events, total, start_leaf = history_page(store, str(claim_id),
                                             request.args.get("upto", type=int))
    verification, proofs = verify_claim(store, state_.settings, str(claim_id), events,
                                        start_leaf=start_leaf)
    state = current_state(store, str(claim_id), total)
    first, last = events[0].version, events[-1].version
    return _page("history.html", claim_id=str(claim_id), events=events, state=state,
                 verification=verification, proofs=proofs, styles=STYLES, total=total,
                 older=first - 1 if first > 1 else None,
                 newer=min(last + HISTORY_PAGE, total) if last < total else None,
                 voided=set(state["voided_event_ids"]) if state else set())


@bp.get("/claims/<uuid:claim_id>/changes")
def claim_changes(claim_id: Any) -> BaseResponse:
    """What a live claim page adds: the entries after version ``after`` and the state."""
    if _reader() is not None:
        return Response("Sign in to follow this claim.\n", 401, mimetype="text/plain")
    after = request.args.get("after", type=int)
    if after is None or not 0 <= after < 2**63:
        return Response("after must be a version (0 or more).\n", 400, mimetype="text/plain")
    page = changes(ledger_state().store, str(claim_id), after)
    return _page("changes.html", claim_id=str(claim_id), page=page, state=page.state,
                 events=page.events, voided=page.voided, by_id=page.by_id,
                 corrected=page.corrected, as_of=None, styles=STYLES, legend_icon=legend_icon,
                 summary=summary, details=details)


@bp.get("/claims/<uuid:claim_id>/events")
def live(claim_id: Any) -> Response:
    """The claim's new events as Server-Sent Events (what keeps its page live)."""
    if _reader() is not None:
        return Response("Sign in to follow this claim.\n", 401, mimetype="text/plain")
    try:
        return sse_response(last_event_id(request.args.get("after")), claim_id=str(claim_id))
    except Problem as problem:  # a bad position or too many streams: a problem, not a page
        return problem_response(problem.code or 400, problem.description, slug=problem.slug,
                                headers=problem.headers)


# --- writing ------------------------------------------------------------------------------
def _append(spec: FormSpec, claim_id: str) -> dict[str, Any] | FormState:
    """Append the form's event through the API's write path; the event, or the form's errors."""
    values = {f.name: request.form.get(f.name, "") for f in spec.fields}
    key = request.form.get("idempotency_key", "")
    headers = {"idempotency_key": key} if _KEY.fullmatch(key) else {}
    form = dict(request.form.items())
    if spec.kind == "corrections":
        form["target_event_id"] = _target(claim_id, form.get("target_event_id", ""))
    try:
        body = spec.schema().load(body_from_form(spec, form))
        response = append_event(spec.event_type, claim_id, body, headers)
    except FormInputError as exc:
        state = FormState(errors=exc.errors)
    except ValidationError as exc:
        state = place_errors(spec, flatten(exc.messages))
    except ValidationFailed as exc:
        state = place_errors(spec, flatten(exc.errors or {"body": [str(exc)]}))
    else:
        event: dict[str, Any] = json.loads(response.get_data())
        return event
    state.values = values
    return state


def _target(claim_id: str, typed: str) -> str:
    """A correction's target as typed: an event id, or a version (``12`` or ``v12``) of
    this claim turned into its event id (left as typed when there is no such version)."""
    found = _VERSION.fullmatch(typed.strip())
    if found is None:
        return typed
    events = ledger_state().store.read_claim(claim_id, after=int(found.group(1)) - 1, limit=1)
    return events[0].id if events else typed


@bp.get("/new")
def new_claim_form() -> BaseResponse:
    """The form that records a claim."""
    denied = _editor()
    if denied is not None:
        return denied
    return _page("new.html", spec=NEW_CLAIM, form=FormState(), key=secrets.token_urlsafe(24))


@bp.post("/new")
def new_claim() -> BaseResponse:
    """Record a claim (ClaimRecorded), then show it."""
    denied = _editor()
    if denied is not None:
        return denied
    outcome = _append(NEW_CLAIM, new_uuid())
    if isinstance(outcome, FormState):
        return _page("new.html", 422, spec=NEW_CLAIM, form=outcome, key=secrets.token_urlsafe(24))
    desk_session.notify("Claim recorded.")
    return redirect(url_for("desk.claim", claim_id=outcome["claim_id"]), 303)


@bp.get("/claims/<uuid:claim_id>/<kind>")
def entry_form(claim_id: Any, kind: str) -> BaseResponse:
    """A form's address (reloaded after a failed post): the claim page at that form."""
    if kind not in FORMS_BY_KIND:
        raise NotFound()
    return redirect(url_for("desk.claim", claim_id=claim_id, _anchor=f"form-{kind}"))


@bp.post("/claims/<uuid:claim_id>/<kind>")
def add_entry(claim_id: Any, kind: str) -> BaseResponse:
    """Append one entry from its form; the page again with messages when it fails validation."""
    spec = FORMS_BY_KIND.get(kind)
    if spec is None:
        raise NotFound()
    denied = _editor()
    if denied is not None:
        return denied
    outcome = _append(spec, str(claim_id))
    if isinstance(outcome, FormState):
        return _claim_page(str(claim_id), failed=(kind, outcome), status=422)
    label = STYLES[spec.event_type].label
    desk_session.notify(f"{label} recorded as version {outcome['version']}.")
    target = url_for("desk.claim", claim_id=claim_id, _anchor=f"event-{outcome['id']}")
    return redirect(target, 303)


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
