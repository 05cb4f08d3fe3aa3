"""The global event feed, for auditors and integrators: every event in position order."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView

from ..auth import requires
from ..parsing import Blueprint
from ..responses import json_response
from ..schemas import EventPageSchema, EventsQuerySchema
from ..state import ledger_state

blp = Blueprint("events", __name__, url_prefix="/v1/events", description="The global event feed")


@blp.route("")
class Events(MethodView):
    """``/v1/events``."""

    @requires("auditor")
    @blp.arguments(EventsQuerySchema(), location="query")
    @blp.response(200, EventPageSchema)
    def get(self, query: dict[str, int]) -> Response:
        """Events with a position greater than ``after``, oldest first.

        Poll again with ``after=next_after``; positions have no gaps, so a reader that
        follows ``next_after`` never misses an event.
        """
        events = ledger_state().store.read_all(query["after"], query["limit"])
        next_after = events[-1].position if events else query["after"]
        return json_response({"items": [e.to_json() for e in events], "next_after": next_after})
