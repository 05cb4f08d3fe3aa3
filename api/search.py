"""The API's side of the search index: reading it, read-your-writes, similar claims.

The index lives beside the ledger (``ledger.search.search_location``) and is kept by the
workers; the API only reads it. A write never consults it: ``POST /v1/claims`` asks for
similar claims after its append has committed, and a failure there only leaves
``similar`` out of the answer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, current_app

from ledger.search import Filters, SearchIndex, SearchPage, Similar, open_search_index
from workers.indexes import wanted
from workers.views import ViewsBehind, ViewsUnavailable

from .state import LedgerState

log = logging.getLogger("api.search")

EXTENSION = "claimledger.search"
#: similar claims at or above this score are returned with a new claim's 201
SIMILAR_THRESHOLD = 0.45
#: how many of them
SIMILAR_ON_RECORD = 3
T = TypeVar("T")


@dataclass
class SearchService:
    """The index of this deployment, opened on first use."""

    database_url: str
    _index: SearchIndex | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def index(self) -> SearchIndex:
        """The search index (opened on first use, once per process)."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = open_search_index(self.database_url)
        return self._index

    def _live(self, retry: Callable[[int], T]) -> T:
        """Run ``retry(generation)`` on the live generation; once more if it was dropped."""
        for attempt in range(2):
            try:
                live = self.index.live()
                if live is None:
                    raise ViewsUnavailable("the search index is being built")
                return retry(live.generation)
            except ViewsUnavailable:
                raise
            except Exception as exc:  # a dropped generation, a database error
                if attempt == 1 or not _gone(exc):
                    raise ViewsUnavailable(f"search unavailable: {exc}") from exc
        raise AssertionError("unreachable")

    def checkpoint(self) -> int | None:
        """The lowest partition checkpoint of the live generation (None: no index yet)."""
        live = self.index.live()
        if live is None:
            return None
        cps = self.index.checkpoints(live.generation)
        return min((c or 0 for c in cps), default=0) if cps else None

    def wait(self, position: int | None, timeout: float) -> None:
        """Wait until the live generation has applied ``position``; else ``ViewsBehind``."""
        if not position:
            return
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            try:
                reached = self.checkpoint()
            except Exception as exc:
                raise ViewsUnavailable(f"search unavailable: {exc}") from exc
            if reached is not None and reached >= position:
                return
            if time.monotonic() >= deadline:
                raise ViewsBehind(position, reached)
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.05)

    def search(self, query: dict[str, Any], *, min_position: int | None,
               timeout: float) -> SearchPage:
        """A page of ``GET /v1/claims?q=`` (the list's filters apply)."""
        self.wait(min_position, timeout)
        filters = Filters(frozenset(wanted(query)), query.get("updated_after"))
        return self._live(lambda g: self.index.search(
            g, query["q"], filters, limit=query["limit"], cursor=query.get("cursor")))

    def similar(self, statement: str, *, limit: int, threshold: float = 0.0,
                min_position: int | None = None, timeout: float = 0.0) -> list[Similar]:
        """The claims closest to a statement, best first."""
        self.wait(min_position, timeout)
        return self._live(lambda g: self.index.similar(g, statement, limit=limit,
                                                       threshold=threshold))

    def status(self, head: int) -> dict[str, Any]:
        """What ``/v1/projections`` shows of the index."""
        try:
            gens = self.index.generations()
        except Exception as exc:
            return {"available": False, "error": str(exc)}
        live = next((g for g in gens if g.state == "live"), None)
        building = next((g for g in gens if g.state == "building"), None)
        cps = self.index.checkpoints(live.generation) if live else []
        checkpoint = min((c or 0 for c in cps), default=0) if live else None
        return {
            "available": live is not None,
            "generation": live.generation if live else None,
            "checkpoint": checkpoint,
            "lag": None if checkpoint is None else head - checkpoint,
            "partition_checkpoints": cps,
            "building_generation": building.generation if building else None,
            "building_checkpoint": min((c or 0 for c in self.index.checkpoints(
                building.generation)), default=0) if building else None,
        }


def _gone(exc: Exception) -> bool:
    text = str(exc)
    return isinstance(exc, sqlite3.OperationalError) or "does not exist" in text


def search_service() -> SearchService:
    """The current app's ``SearchService``."""
    service: SearchService = current_app.extensions[EXTENSION]
    return service


def init_app(app: Flask, state: LedgerState) -> SearchService:
    """Give the app its ``SearchService``."""
    service = SearchService(state.settings.database_url)
    app.extensions[EXTENSION] = service
    return service
