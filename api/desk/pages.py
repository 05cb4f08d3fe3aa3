"""What every desk page shares: rendering a template with the page's frame, and who may see it.

The blueprint (``api.desk.views``) and the modules whose views it registers import this
module; it imports none of them.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec

from flask import Response, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ledger.errors import ValidationFailed

from ..appending import append_event
from ..errors import flatten
from ..state import ledger_state
from . import session as desk_session
from .dates import ZONE_COOKIE, DateError, zone_names, zone_of

#: an idempotency key a form may carry (``new_key`` puts a fresh one in every form)
KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")

P = ParamSpec("P")


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A desk template rendered in the page's frame (who is signed in, the form token,
    the notice, the editor's time zone)."""
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


def error_page(status: int, title: str, message: str) -> Response:
    """The desk's error page."""
    return page("error.html", status, title=title, message=message)


def current_zone() -> str:
    """The time zone this editor's forms start in (the last one they used)."""
    zone = request.cookies.get(ZONE_COOKIE, "").strip()
    try:
        zone_of(zone)
    except DateError:
        return "UTC"
    return zone or "UTC"


def sign_in_redirect() -> BaseResponse:
    """To the sign-in form, coming back here after."""
    return redirect(url_for("desk.sign_in_form", next=request.full_path.rstrip("?")))


def reader() -> BaseResponse | None:
    """None when this visitor may read; else where to go instead."""
    if g.get("desk_user") is not None or ledger_state().settings.public_read:
        return None
    return sign_in_redirect()


def editor() -> BaseResponse | None:
    """None when this visitor may append; else a sign-in redirect or a 403 page."""
    user = g.get("desk_user")
    if user is None:
        return sign_in_redirect()
    if not user.may("editor"):
        return error_page(403, "Not allowed", f"Your token has the {user.role} role;"
                          " recording entries needs the editor role.")
    return None


def new_key() -> str:
    """A fresh idempotency key for a form (a form posted twice records once)."""
    return secrets.token_urlsafe(24)


def append_from_form(event_type: str, claim_id: str, body: Any) -> dict[str, Any]:
    """Append through the API's write path under the form's idempotency key; the recorded
    event as the API answers it. Raises ``ValidationFailed`` when the ledger refuses it."""
    key = request.form.get("idempotency_key", "")
    headers = {"idempotency_key": key} if KEY.fullmatch(key) else {}
    response = append_event(event_type, claim_id, body, headers)
    event: dict[str, Any] = json.loads(response.get_data())
    return event


def refusal(exc: ValidationFailed) -> dict[str, list[str]]:
    """The ledger's messages for a refused append, by field path."""
    return flatten(exc.errors or {"body": [str(exc)]})


def _guarded(check: Callable[[], BaseResponse | None]
             ) -> Callable[[Callable[P, BaseResponse]], Callable[P, BaseResponse]]:
    def decorate(view: Callable[P, BaseResponse]) -> Callable[P, BaseResponse]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> BaseResponse:
            denied = check()
            return denied if denied is not None else view(*args, **kwargs)
        return guarded
    return decorate


#: a view for readers: anyone signed in, or everyone under ``LEDGER_PUBLIC_READ=1``
for_readers = _guarded(reader)
#: a view for editors: others are sent to sign in or shown a 403 page
for_editors = _guarded(editor)
#: a part of a live claim page (its changes, its feed): a plain 401 for those who may not read
for_followers = _guarded(lambda: None if reader() is None else Response(
    "Sign in to follow this claim.\n", 401, mimetype="text/plain"))
