"""The desk's sign-in session and CSRF protection.

A signed (itsdangerous), HttpOnly, SameSite=Lax cookie scoped to ``/desk``. Signed in,
it holds only an opaque random session id; the store keeps the id's SHA-256 with the
SHA-256 of the API token the editor signed in with (never the token itself), the
session's CSRF token and a pending notice (``ledger.store.sessions``). Signing out
deletes that row, so a copied cookie is refused afterwards; the token is looked up on
every request too, so revoking it signs the desk out. An anonymous visitor's cookie
holds only a CSRF token for the sign-in form and a pending notice, no authority. The
signing key is ``LEDGER_SECRET_KEY``, else a random key generated once under the data
directory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ledger.store.sessions import SessionRecord

from ..credentials import Principal, digest, well_formed
from ..state import ledger_state

COOKIE = "claimledger_desk"
COOKIE_PATH = "/desk"
#: seconds a sign-in lasts
MAX_AGE = 12 * 3600
SECRET_FILE = "desk-secret.key"  # noqa: S105 (a file name)
_SALT = "claimledger.desk.session"
_SECRET = "claimledger.desk.secret"  # noqa: S105 (an extension name)


@dataclass
class DeskSession:
    """This request's session: a stored one (``sid`` set) or an anonymous one."""

    csrf: str
    token_sha256: str | None = None
    notice: str | None = None
    #: the opaque id a signed-in cookie carries (the store keeps only its hash)
    sid: str | None = None


def load_or_create_secret(path: Path, timeout: float = 5.0) -> str:
    """The key in ``path``, created (atomically, mode 0600) by the first process to need it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _stored(sid: str) -> DeskSession | None:
    """The live stored session with this id, if any."""
    record = ledger_state().store.find_session(_sid_hash(sid), int(time.time()))
    if record is None:
        return None
    return DeskSession(record.csrf, record.token_sha256, record.notice, sid)


def _from_cookie(loaded: Any) -> DeskSession | None:
    if not isinstance(loaded, dict):
        return None
    if set(loaded) == {"sid"} and isinstance(loaded["sid"], str):
        return _stored(loaded["sid"])
    if set(loaded) <= {"csrf", "notice"} and isinstance(loaded.get("csrf"), str):
        notice = loaded.get("notice")
        return DeskSession(csrf=loaded["csrf"], notice=notice if isinstance(notice, str) else None)
    return None  # anything else (an older cookie with a token hash included) signs out


def session() -> DeskSession:
    """This request's desk session (a fresh anonymous one when the cookie is absent, bad,
    or names a session that ended)."""
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
    found = _from_cookie(loaded)
    if found is None:
        found = _fresh()
        g.desk_session_dirty = True
    g.desk_session = found
    return found


def changed() -> None:
    """Mark the cookie to be written back."""
    g.desk_session_dirty = True


def save(response: Response) -> Response:
    """``after_request``: write the cookie back when it changed."""
    found: DeskSession | None = g.get("desk_session")
    if found is None or not g.get("desk_session_dirty"):
        return response
    carried: dict[str, Any] = (
        {"sid": found.sid} if found.sid is not None
        else {"csrf": found.csrf, "notice": found.notice}
    )
    response.set_cookie(
        COOKIE,
        _serializer().dumps(carried),
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
    store = ledger_state().store
    record = store.find_token(digest(token))
    if record is None:
        return None
    _end_stored()  # a new sign-in never reuses the previous session's id
    now = int(time.time())
    sid, csrf, token_sha256 = secrets.token_urlsafe(32), secrets.token_urlsafe(32), digest(token)
    store.create_session(
        _sid_hash(sid), SessionRecord(token_sha256, csrf, None, now, now + MAX_AGE)
    )
    g.desk_session = DeskSession(csrf, token_sha256, None, sid)
    changed()
    return Principal(record.name, record.role, record.id)


def _end_stored() -> None:
    current = session()
    if current.sid is not None:
        ledger_state().store.delete_session(_sid_hash(current.sid))


def sign_out() -> None:
    """End the stored session (a copied cookie stops working) and rotate the CSRF token."""
    _end_stored()
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


def _set_notice(current: DeskSession, text: str | None) -> None:
    current.notice = text
    if current.sid is not None:
        ledger_state().store.set_session_notice(_sid_hash(current.sid), text)
    else:
        changed()


def notify(text: str) -> None:
    """Show ``text`` once on the next page."""
    _set_notice(session(), text)


def take_notice() -> str | None:
    """The pending notice, removed from the session."""
    current = session()
    text = current.notice
    if text is not None:
        _set_notice(current, None)
    return text


def csrf_ok() -> bool:
    """Whether a POST carries this session's CSRF token and, if sent, our own Origin."""
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return False
    sent = request.form.get("csrf_token", "")
    return bool(sent) and secrets.compare_digest(sent.encode(), session().csrf.encode())
