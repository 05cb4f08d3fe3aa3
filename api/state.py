"""What each app holds for its requests: settings, the store, metrics and hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app

from ledger.envelope import RecordedEvent
from ledger.store import EventStore

from .settings import Settings

if TYPE_CHECKING:
    from .metrics import Metrics

#: called after every append that wrote events (not after idempotent replays)
AppendHook = Callable[[Sequence[RecordedEvent]], None]
#: a readiness check: raises (any exception) when its dependency is not ready
ReadyCheck = Callable[[], None]

EXTENSION = "claimledger"


@dataclass
class LedgerState:
    """The app's store and settings, plus hooks later parts of the system plug into."""

    settings: Settings
    store: EventStore
    metrics: Metrics
    append_hooks: list[AppendHook] = field(default_factory=list)
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)
    #: checks whose failure /readyz reports without failing readiness (the API still serves)
    optional_checks: set[str] = field(default_factory=set)


def ledger_state() -> LedgerState:
    """The current app's ``LedgerState``."""
    state: LedgerState = current_app.extensions[EXTENSION]
    return state
