"""The desk's forms: record a claim, append an entry, each through the API's write path."""

from __future__ import annotations

import json
import secrets
from typing import Any

from flask import redirect, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import (
    ValidationFailed,
)
from ledger.store.base import new_uuid

from ..errors import flatten
from ..state import ledger_state
from ..writing import append_event
from . import session as desk_session
from .forms import (
    FORMS_BY_KIND,
    NEW_CLAIM,
    FormInputError,
    FormSpec,
    FormState,
    body_from_form,
    place_errors,
)
from .reading import _claim_page
from .timeline import STYLES
from .views import (
    _KEY,
    _VERSION,
    _editor,
    _page,
    bp,
)


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
