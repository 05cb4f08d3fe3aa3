"""The desk's sign-in: paste an API token; the session keeps only its hash."""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from . import session as desk_session
from .pages import page


def safe_next(target: str | None) -> str:
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


def sign_in_form() -> BaseResponse:
    """The sign-in form: paste an API token."""
    return page("sign_in.html", next=safe_next(request.args.get("next")), error=None)


def sign_in() -> BaseResponse:
    """Sign in with a token; the session keeps only its hash."""
    who = desk_session.sign_in(request.form.get("token", ""))
    target = safe_next(request.form.get("next"))
    if who is None:
        return page("sign_in.html", 401, next=target,
                    error="This token is unknown, revoked or malformed.")
    desk_session.notify(f"Signed in as {who.name} ({who.role}).")
    return redirect(target, 303)


def sign_out() -> BaseResponse:
    """Forget the token."""
    desk_session.sign_out()
    desk_session.notify("Signed out.")
    return redirect(url_for("desk.claim_list"), 303)
