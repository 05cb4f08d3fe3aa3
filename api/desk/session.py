"""The desk's sign-in session and CSRF protection.

A signed (itsdangerous), HttpOnly, SameSite=Lax cookie scoped to ``/desk`` holds the
SHA-256 of the API token the editor signed in with (never the token itself: the API
only accepts the token, so a stolen cookie is no bearer token) and a random CSRF
token that every form carries. The token is looked up on every request, so revoking
it signs the desk out too. The signing key is ``LEDGER_SECRET_KEY``, else a random
key generated once under the data directory.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..state import ledger_state
from ..tokens import Principal, digest, well_formed

COOKIE = "claimledger_desk"
COOKIE_PATH = "/desk"
#: seconds a sign-in lasts
MAX_AGE = 12 * 3600
SECRET_FILE = "desk-secret.key"  # noqa: S105 (a file name)
_SALT = "claimledger.desk.session"
_SECRET = "claimledger.desk.secret"  # noqa: S105 (an extension name)


@dataclass
class DeskSession:
    """What the cookie carries."""

    csrf: str
    token_sha256: str | None = None
    notice: str | None = None


def load_or_create_secret(path: Path, timeout: float = 5.0) -> str:
    """The key in ``path``, created (atomically, mode 0600) by the first process to need it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process is writing it
            else:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_urlsafe(48) + "\n")
                continue
        if len(text) >= 32:
            return text
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{path} holds no usable secret key; remove it to regenerate")
        time.sleep(0.01)


def secret_key() -> str:
    """LEDGER_SECRET_KEY, else the generated key under the data directory."""
    found: str | None = current_app.extensions.get(_SECRET)
    if found is None:
        settings = ledger_state().settings
        found = settings.secret_key or load_or_create_secret(settings.data_dir / SECRET_FILE)
        current_app.extensions[_SECRET] = found
    return found


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key(), salt=_SALT)


def _fresh() -> DeskSession:
    return DeskSession(csrf=secrets.token_urlsafe(32))


def session() -> DeskSession:
    """This request's desk session (a fresh anonymous one when the cookie is absent or bad)."""
    found: DeskSession | None = g.get("desk_session")
    if found is not None:
        return found
    raw = request.cookies.get(COOKIE)
    loaded: Any = None
    if raw:
        try:
            loaded = _serializer().loads(raw, max_age=MAX_AGE)
        except BadSignature:
            loaded = None
    try:
        found = DeskSession(**loaded) if isinstance(loaded, dict) else None
    except TypeError:
        found = None
    if found is None or not isinstance(found.csrf, str):
        found = _fresh()
        g.desk_session_dirty = True
    g.desk_session = found
    return found


def changed() -> None:
    """Mark the session to be written back."""
    g.desk_session_dirty = True


def save(response: Response) -> Response:
    """``after_request``: write the cookie back when the session changed."""
    found: DeskSession | None = g.get("desk_session")
    if found is None or not g.get("desk_session_dirty"):
        return response
    response.set_cookie(
        COOKIE,
        _serializer().dumps(asdict(found)),
        max_age=MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=ledger_state().settings.cookie_secure,
    )
    return response


def sign_in(token: str) -> Principal | None:
    """Start a session for ``token`` (a new CSRF token too); None when it is not valid."""
    token = token.strip()
    if not well_formed(token):
        return None
    record = ledger_state().store.find_token(digest(token))
    if record is None:
        return None
    g.desk_session = DeskSession(csrf=secrets.token_urlsafe(32), token_sha256=digest(token))
    changed()
    return Principal(record.name, record.role, record.id)


def sign_out() -> None:
    """Forget the token and rotate the CSRF token."""
    g.desk_session = _fresh()
    changed()


def signed_in() -> Principal | None:
    """Who signed in, looked up afresh (a revoked token signs the desk out)."""
    current = session()
    if current.token_sha256 is None:
        return None
    record = ledger_state().store.find_token(current.token_sha256)
    if record is None:
        sign_out()
        return None
    return Principal(record.name, record.role, record.id)


def notify(text: str) -> None:
    """Show ``text`` once on the next page."""
    session().notice = text
    changed()


def take_notice() -> str | None:
    """The pending notice, removed from the session."""
    current = session()
    text = current.notice
    if text is not None:
        current.notice = None
        changed()
    return text


def csrf_ok() -> bool:
    """Whether a POST carries this session's CSRF token and, if sent, our own Origin."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return False
    sent = request.form.get("csrf_token", "")
    return bool(sent) and secrets.compare_digest(sent.encode(), session().csrf.encode())
