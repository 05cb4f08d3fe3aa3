"""The desk's forms: record a claim, append an entry, each through the API's write path."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import (
    ValidationFailed,
)
from ledger.ids import new_uuid
from ledger.timeutil import utcnow

from ..errors import flatten
from ..state import ledger_state
from . import session as desk_session
from .claimpage import AGGREGATE_ABOVE
from .dates import ZONE_COOKIE, DateError, surprises, zone_of
from .forms import (
    CLOCK,
    NEW_CLAIM,
    ZONE,
    FormSpec,
    FormState,
    body_from_form,
    desk_forms,
    place_errors,
)
from .pages import append_from_form, editor, for_editors, new_key, page, refusal
from .reading import claim_page_response
from .similar import similar_claims


# --- writing ------------------------------------------------------------------------------
def _typed(spec: FormSpec) -> dict[str, str]:
    """What was typed into the form's fields (dates with their time and zone)."""
    values = {f.name: request.form.get(f.name, "") for f in spec.fields}
    for item in spec.fields:
        if item.kind == "time":
            values[item.name + CLOCK] = request.form.get(item.name + CLOCK, "")
    values[ZONE] = request.form.get(ZONE, "")
    return values


def _story(claim_id: str) -> list[str]:
    """The claim's own dates (when its entries occurred and its appearances were
    published), read at a bounded cost: what a new date is compared with."""
    dates: list[str] = []
    for event in ledger_state().store.read_claim(claim_id, limit=AGGREGATE_ABOVE):
        if event.type != "EntryCorrected":
            dates.append(event.occurred_at)
        published = ((event.data or {}).get("appearance") or {}).get("published_at")
        if published:
            dates.append(str(published))
    return dates


def _checked(spec: FormSpec, body: dict[str, Any], claim_id: str, new: bool) -> FormState | None:
    """The dates to confirm before saving (None when there are none or they were confirmed)."""
    labels = {f.name: f.label for f in spec.fields if f.kind == "time"}
    times = [(labels[name], str(value)) for name, value in (
        ("occurred_at", body.get("occurred_at")),
        ("appearance.published_at", (body.get("appearance") or {}).get("published_at")),
    ) if value and name in labels]
    if not times:
        return None
    token = "|".join(t for _, t in times)
    if request.form.get("confirm_dates") == token:
        return None
    found = surprises(times, [] if new else _story(claim_id), utcnow())
    return FormState(confirm=found, token=token) if found else None


def _append(spec: FormSpec, claim_id: str, new: bool = False) -> dict[str, Any] | FormState:
    """Append the form's event through the API's write path; the event, or the form again
    (with its errors, or with dates to confirm)."""
    values = _typed(spec)
    form = dict(request.form.items())
    read = body_from_form(spec, form)
    state: FormState | None = None
    try:
        body = spec.schema().load(read.body)
    except ValidationError as exc:
        state = place_errors(spec, flatten(exc.messages), values)
    if read.errors:
        state = state or FormState()
        state.errors.update(read.errors)
    if state is None:
        state = _checked(spec, read.body, claim_id, new)
    if state is None:
        try:
            event = append_from_form(spec.event_type, claim_id, body)
        except ValidationFailed as exc:
            state = place_errors(spec, refusal(exc), values)
        else:
            g.desk_read_as = read.read_as
            return event
    state.values = values
    state.read_as = read.read_as
    return state


def _read_as(spec: FormSpec) -> str:
    """How the desk read the dates just recorded, for the notice."""
    labels = {f.name: f.label.lower() for f in spec.fields}
    said = [f"{labels[name]} {shown}" for name, shown in g.get("desk_read_as", {}).items()]
    return f" Dates read as: {'; '.join(said)}." if said else ""


def remember_zone(response: BaseResponse) -> BaseResponse:
    """Remember the time zone a form was filled in (the editor's next forms start in it)."""
    zone = request.form.get(ZONE, "").strip()
    if zone and zone != request.cookies.get(ZONE_COOKIE):
        try:
            zone_of(zone)
        except DateError:
            return response
        response.set_cookie(ZONE_COOKIE, zone, max_age=400 * 86400, path="/desk",
                            httponly=True, samesite="Lax",
                            secure=ledger_state().settings.cookie_secure)
    return response


@for_editors
def new_claim_form() -> BaseResponse:
    """The form that records a claim."""
    return page("new.html", spec=NEW_CLAIM, form=FormState(), key=new_key(),
                none_options=lambda item: [])


@for_editors
def new_claim() -> BaseResponse:
    """Record a claim (ClaimRecorded), then show it."""
    outcome = _append(NEW_CLAIM, new_uuid(), new=True)
    if isinstance(outcome, FormState):
        statement = request.form.get("statement", "")
        return remember_zone(page("new.html", 422, spec=NEW_CLAIM, form=outcome,
                                  key=new_key(), none_options=lambda item: [],
                                  similar=similar_claims(statement), checked=bool(statement)))
    desk_session.notify("Claim recorded." + _read_as(NEW_CLAIM))
    return remember_zone(redirect(url_for("desk.claim", claim_id=outcome["claim_id"]), 303))


def entry_form(claim_id: Any, kind: str) -> BaseResponse:
    """A form's address (reloaded after a failed post): the claim page at that form."""
    if kind not in desk_forms().by_kind:
        raise NotFound()
    return redirect(url_for("desk.claim", claim_id=claim_id, _anchor=f"form-{kind}"))


def add_entry(claim_id: Any, kind: str) -> BaseResponse:
    """Append one entry from its form; the page again with messages when it fails validation."""
    spec = desk_forms().by_kind.get(kind)
    if spec is None:
        raise NotFound()
    denied = editor()
    if denied is not None:
        return denied
    outcome = _append(spec, str(claim_id))
    if isinstance(outcome, FormState):
        return remember_zone(claim_page_response(str(claim_id), failed=(kind, outcome), status=422))
    label = desk_forms().styles[spec.event_type].label
    desk_session.notify(f"{label} recorded as version {outcome['version']}." + _read_as(spec))
    target = url_for("desk.claim", claim_id=claim_id, _anchor=f"event-{outcome['id']}")
    return remember_zone(redirect(target, 303))
