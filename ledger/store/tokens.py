"""API tokens in the store: only a token's SHA-256 is kept, with a log of who made or
revoked which token; one recorder for both backends."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .sql import Database, styled


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as stored: never the token itself, only its SHA-256."""

    id: str
    name: str
    role: str
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None


def token_match(row: Sequence[Any] | None, token_sha256: str) -> TokenRecord | None:
    """The token in ``row`` (its columns, then its stored digest) if the digest matches.

    The index lookup by digest already found it; the digests are compared once more in
    constant time so no comparison of secret-derived bytes can leak through timing.
    """
    if row is None or not hmac.compare_digest(str(row[-1]), token_sha256):
        return None
    return TokenRecord(*row[:-1])


class TokenRecorder(Protocol):
    """Keep API tokens (by hash) and who created or revoked them."""

    def create_token(self, record: TokenRecord, token_sha256: str) -> None:
        """Store a new token (by hash) and log who created it."""

    def find_token(self, token_sha256: str) -> TokenRecord | None:
        """The active (unrevoked) token with this hash, if any."""

    def list_tokens(self) -> list[TokenRecord]:
        """Every token ever created, revoked ones included, oldest first."""

    def revoke_token(self, token_id: str, *, actor: str, at: str) -> bool:
        """Revoke a token; False if it does not exist or is already revoked."""

    def token_log(self) -> list[dict[str, str]]:
        """Who created or revoked which token, and when: ``{token_id, action, actor, at}``."""


_COLUMNS = "SELECT id, name, role, created_at, created_by, revoked_at, revoked_by"
_INSERT = styled(
    "INSERT INTO api_tokens (id, name, role, token_sha256, created_at, created_by)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_LOG = styled("INSERT INTO api_token_log (token_id, action, actor, at) VALUES (?, ?, ?, ?)")
_FIND = styled(
    _COLUMNS + ", token_sha256 FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL"
)
_LIST = _COLUMNS + " FROM api_tokens ORDER BY created_at, id"
_REVOKE = styled(
    "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL"
)
_READ_LOG = "SELECT token_id, action, actor, at FROM api_token_log ORDER BY seq"


class SQLTokens:
    """Tokens in the ``api_tokens`` and ``api_token_log`` tables (migration 2)."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def create_token(self, record: TokenRecord, token_sha256: str) -> None:
        """Store a new token (by hash) and log who created it, in one transaction."""
        style = self._db.style
        with self._db.transaction() as conn:
            conn.execute(_INSERT[style], (record.id, record.name, record.role, token_sha256,
                                          record.created_at, record.created_by))
            conn.execute(_LOG[style], (record.id, "created", record.created_by,
                                       record.created_at))

    def find_token(self, token_sha256: str) -> TokenRecord | None:
        """The active (unrevoked) token with this hash, if any."""
        with self._db.connection() as conn:
            row = conn.execute(_FIND[self._db.style], (token_sha256,)).fetchone()
        return token_match(row, token_sha256)

    def list_tokens(self) -> list[TokenRecord]:
        """Every token ever created, revoked ones included, oldest first."""
        with self._db.connection() as conn:
            return [TokenRecord(*r) for r in conn.execute(_LIST).fetchall()]

    def revoke_token(self, token_id: str, *, actor: str, at: str) -> bool:
        """Revoke a token and log it; False if it does not exist or is already revoked."""
        style = self._db.style
        with self._db.transaction() as conn:
            revoked = bool(conn.execute(_REVOKE[style], (at, actor, token_id)).rowcount)
            if revoked:
                conn.execute(_LOG[style], (token_id, "revoked", actor, at))
        return revoked

    def token_log(self) -> list[dict[str, str]]:
        """Who created or revoked which token, and when."""
        with self._db.connection() as conn:
            rows = conn.execute(_READ_LOG).fetchall()
        return [{"token_id": r[0], "action": r[1], "actor": r[2], "at": r[3]} for r in rows]
