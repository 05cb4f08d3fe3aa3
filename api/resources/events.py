"""The global event feed, for auditors and integrators: every event in position order."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from marshmallow import RAISE

from ..auth import requires
from ..parsing import Blueprint
from ..responses import json_text_response
from ..schemas import EventPageSchema, EventsQuerySchema
from ..state import ledger_state

blp = Blueprint("events", __name__, url_prefix="/v1/events", description="The global event feed")


@blp.route("")
class Events(MethodView):
    """``/v1/events``."""

    @requires("auditor")
    @blp.arguments(EventsQuerySchema(), location="query", unknown=RAISE)
    @blp.response(200, EventPageSchema)
    def get(self, query: dict[str, int]) -> Response:
        """Events with a position greater than ``after``, oldest first.

        Poll again with ``after=next_after``; positions have no gaps, so a reader that
        follows ``next_after`` never misses an event.
        """
        # the envelopes as the store wrote them, not decoded and encoded again: an auditor
        # replaying the whole log reads every event through here
        envelopes = ledger_state().store.read_all_json(query["after"], query["limit"])
        next_after = envelopes[-1][0] if envelopes else query["after"]
        items = ",".join(text for _, text in envelopes)
        return json_text_response(f'{{"items":[{items}],"next_after":{next_after}}}')
