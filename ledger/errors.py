"""Exceptions raised by the ledger.

One root, so callers can catch everything the ledger means to raise::

    LedgerError
    ├── ValidationFailed          bad input; carries ``errors`` by field path
    ├── MalformedLine             an NDJSON line that is not strict JSON (``ledger.jsontext``)
    ├── ClaimNotFound             the claim (or event) does not exist
    ├── EventNotFound
    ├── ConcurrencyConflict       an expected version was stale
    ├── IdempotencyConflict       an idempotency key was reused with another body
    ├── IntegrityError            stored data disagrees with its hashes
    ├── StoreUnavailable          the database cannot be reached or written
    └── StoreNotEmpty             restore into a store that already holds events
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""


class ValidationFailed(LedgerError):
    """Input failed validation; ``errors`` maps field paths to messages."""

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.errors: dict[str, Any] = errors or {}


class MalformedLine(LedgerError):
    """An NDJSON line the strict parser refuses (duplicate keys, too deep, huge numbers…)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line} is not valid JSON: {reason}")
        self.line = line
        self.reason = reason


class ClaimNotFound(LedgerError):
    """The named claim has no events."""

    def __init__(self, claim_id: object) -> None:
        super().__init__(f"claim {claim_id} does not exist")
        self.claim_id = claim_id


class EventNotFound(LedgerError):
    """The named event does not exist."""

    def __init__(self, event_id: object) -> None:
        super().__init__(f"event {event_id} does not exist")
        self.event_id = event_id


class ConcurrencyConflict(LedgerError):
    """An expected claim version did not match the claim's current version."""

    def __init__(self, claim_id: object, expected: int, actual: int) -> None:
        super().__init__(
            f"claim {claim_id} is at version {actual}, not the expected version {expected}"
        )
        self.claim_id = claim_id
        self.expected = expected
        self.actual = actual


class IdempotencyConflict(LedgerError):
    """An idempotency key was reused with a different request."""


class IntegrityError(LedgerError):
    """Stored or supplied events disagree with their hashes or chain."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class StoreUnavailable(LedgerError):
    """The event store could not be reached or could not durably write."""


class StoreNotEmpty(LedgerError):
    """A restore was attempted into a store that already holds events."""
