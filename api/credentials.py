"""API tokens: roles, generation and hashing (only a token's SHA-256 is ever stored)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from ledger.ids import new_uuid as new_id
from ledger.store import EventStore
from ledger.store.tokens import TokenRecord
from ledger.timeutil import format_time, utcnow

#: what each role may do; ``reader`` ⊂ ``editor``, ``reader`` ⊂ ``auditor``, admin has all
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "reader": frozenset({"reader"}),
    "editor": frozenset({"reader", "editor"}),
    "auditor": frozenset({"reader", "auditor"}),
    "admin": frozenset({"reader", "editor", "auditor", "admin"}),
}
ROLES = tuple(ROLE_GRANTS)

#: every token starts with this, so a leaked one is easy to recognise (and to grep for)
TOKEN_PREFIX = "clt_"  # noqa: S105 (a prefix, not a secret)
#: a bearer token as RFC 6750 allows it (token68), bounded
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/-]{1,256}=*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name and role, or the anonymous public reader."""

    name: str
    role: str | None
    token_id: str | None = None

    @property
    def actor(self) -> str:
        """The ``actor`` recorded on the events this principal appends."""
        return f"token:{self.name}"

    def may(self, role: str) -> bool:
        """Whether this principal holds ``role`` (directly or through a wider role)."""
        return self.role is not None and role in ROLE_GRANTS[self.role]


ANONYMOUS = Principal("anonymous", None)


def digest(token: str) -> str:
    """The SHA-256 hex digest a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def well_formed(token: str) -> bool:
    """Whether a presented bearer token is worth looking up at all."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


def check_name(name: str) -> str:
    """Validate a token name (it becomes the events' actor); raises ``ValueError``."""
    if _NAME.fullmatch(name) is None:
        raise ValueError(
            "a token name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a"
            " letter or digit"
        )
    return name


def create(store: EventStore, *, name: str, role: str, created_by: str) -> tuple[TokenRecord, str]:
    """Create a token; returns its record and the token itself (shown once, never stored)."""
    check_name(name)
    if role not in ROLE_GRANTS:
        raise ValueError(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    if any(t.name == name and t.revoked_at is None for t in store.list_tokens()):
        raise ValueError(f"an active token is already named {name!r}; revoke it first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = TokenRecord(
        id=new_id(),
        name=name,
        role=role,
        created_at=format_time(utcnow()),
        created_by=created_by,
    )
    store.create_token(record, digest(token))
    return record, token
