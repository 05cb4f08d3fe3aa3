"""The peer: the same claims modelled as an ``eventsourcing`` 9.5 aggregate."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger.ids import new_uuid


class Claim(Aggregate):
    """A claim with denials, as an eventsourcing aggregate."""

    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:
        """A time-ordered id, as our API gives claims (the library's default is random)."""
        return UUID(new_uuid())

    @event("Recorded")
    def __init__(
        self, statement: str, claimant: dict[str, Any], appearance: dict[str, Any], tags: list[str]
    ) -> None:
        self.statement = statement
        self.denials: list[dict[str, Any]] = []

    @event("Denied")
    def deny(self, by: dict[str, Any], note: str) -> None:
        """Record a denial."""
        self.denials.append(by)


class Ledger(Application):
    """The peer application."""
