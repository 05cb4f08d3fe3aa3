"""Bearer-token authentication and role checks, done before a view parses anything.

A view declares the role it needs with ``@requires(role)``; a ``/v1`` view that declares
none needs ``admin`` (fail closed). Tokens are looked up by their SHA-256 digest, so the
token itself is never stored, compared or logged; with ``LEDGER_PUBLIC_READ=1``
anonymous clients may use the GET endpoints that need only ``reader`` or ``auditor``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from copy import deepcopy
from typing import Any, TypeVar

from flask import current_app, g, request

from ledger.store import EventStore

from .credentials import ANONYMOUS, ROLE_GRANTS, Principal, digest, well_formed
from .errors import Problem
from .state import ledger_state

F = TypeVar("F", bound=Callable[..., Any])

#: roles anonymous clients get when LEDGER_PUBLIC_READ=1 (GET only)
PUBLIC_ROLES = frozenset({"reader", "auditor"})
#: the OpenAPI security scheme every protected operation names
SECURITY_SCHEME = "bearerAuth"
_CHALLENGE = 'Bearer realm="claimledger"'
#: app.extensions key of the (endpoint, method) -> role cache
_ROLES = "claimledger.roles"

log = logging.getLogger("api.auth")


def requires(role: str) -> Callable[[F], F]:
    """Declare the role a view method needs; put it above the flask-smorest decorators."""
    if role not in ROLE_GRANTS:
        raise ValueError(f"unknown role {role!r}")

    def decorate(func: F) -> F:
        doc = deepcopy(getattr(func, "_apidoc", {}))
        manual = doc.setdefault("manual_doc", {})
        manual["security"] = [{SECURITY_SCHEME: []}]
        note = f"Needs the `{role}` role."
        if role in PUBLIC_ROLES:
            note += " Anonymous GETs are allowed when the server runs with LEDGER_PUBLIC_READ=1."
        manual["description"] = f"{manual.get('description', '')}\n\n{note}".strip()
        responses = doc.setdefault("response", {}).setdefault("responses", {})
        responses.setdefault(401, []).append("UNAUTHORIZED")
        responses.setdefault(403, []).append("FORBIDDEN")
        func._apidoc = doc  # type: ignore[attr-defined]
        func.required_role = role  # type: ignore[attr-defined]
        return func

    return decorate


def principal() -> Principal:
    """Who is calling (``ANONYMOUS`` when no token was needed or given)."""
    found: Principal = g.get("principal", ANONYMOUS)
    return found


def required_role() -> str | None:
    """The role the matched view needs; None for public endpoints (health, docs)."""
    endpoint = request.endpoint
    if endpoint is None:  # no route matched: the 404/405 handler answers
        return None
    roles: dict[tuple[str, str], str | None] = current_app.extensions.setdefault(_ROLES, {})
    key = (endpoint, request.method)
    if key not in roles:
        roles[key] = _declared_role(endpoint)
    return roles[key]


def _declared_role(endpoint: str) -> str | None:
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    handler: Any = view
    if view_class is not None:
        method = "get" if request.method == "HEAD" else request.method.lower()
        handler = getattr(view_class, method, None)
    role: str | None = getattr(handler, "required_role", None)
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    if role is None and rule.startswith("/v1/"):
        log.warning("%s declares no role: only admins may call it", endpoint)
        return "admin"
    return role


def authenticate() -> None:
    """``before_request``: establish ``g.principal`` and enforce the view's role."""
    if request.method == "OPTIONS":
        return
    role = required_role()
    if role is None:
        return
    header = request.headers.get("Authorization")
    if header is None:
        if (
            request.method in ("GET", "HEAD")
            and role in PUBLIC_ROLES
            and ledger_state().settings.public_read
        ):
            g.principal = ANONYMOUS
            return
        raise Problem(
            401,
            "This endpoint needs a bearer token (Authorization: Bearer <token>).",
            slug="unauthenticated",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    who = bearer_principal(header)
    if who is None:
        raise Problem(
            401,
            "The bearer token is unknown, revoked or malformed.",
            slug="unauthenticated",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    g.principal = who
    if not who.may(role):
        raise Problem(
            403,
            f"This endpoint needs the {role} role; this token has the {who.role} role.",
            slug="forbidden",
        )


def bearer_principal(header: str, store: EventStore | None = None) -> Principal | None:
    """Whose bearer token an ``Authorization`` header carries; None if unknown or malformed.

    The token is looked up in ``store`` (the app's by default) on every request, so a
    revocation by any process (another worker, the CLI) holds from the next request on.
    """
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not well_formed(token):
        return None
    record = (store or ledger_state().store).find_token(digest(token))
    return None if record is None else Principal(record.name, record.role, record.id)
