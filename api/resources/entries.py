"""Entries on an existing claim: appearances, corroborations, denials, retractions,
verdicts, corrections, notes and links. Each POST appends one event and answers 201.

The views are made from the app's entry kinds (``api.entry_kinds``): one per kind, with
its body schema, role and docstring; ``api.fastlane`` serves plain appends from the same
kinds, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from flask import Response
from flask.views import MethodView

from ..appending import WRITE_HEADERS, append_event
from ..auth import requires
from ..entry_kinds import PREFIX, EntryKind
from ..parsing import Blueprint
from ..schemas import EventBody, EventSchema, WriteHeadersSchema


def blueprint(kinds: Sequence[EntryKind]) -> Blueprint:
    """A blueprint with one ``POST {PREFIX}/<kind>`` view per entry kind, in their order."""
    blp = Blueprint("entries", __name__, url_prefix=PREFIX, description="Entries on a claim")
    for kind in kinds:
        blp.route(f"/{kind.kind}")(_view(blp, kind))
    return blp


def _view(blp: Blueprint, kind: EntryKind) -> type[MethodView]:
    """The view of one entry kind (``Notes`` for ``notes``)."""

    def post(self: MethodView, headers: dict[str, str], body: EventBody, claim_id: UUID
             ) -> Response:
        return append_event(kind.event_type, str(claim_id), body, headers)

    post.__doc__ = kind.doc
    decorators: tuple[Callable[[Any], Any], ...] = (
        requires(kind.role),
        blp.arguments(WriteHeadersSchema(), location="headers"),
        blp.arguments(kind.schema()),
        blp.response(201, EventSchema, headers=WRITE_HEADERS),
    )
    handler: Any = post
    for decorate in reversed(decorators):
        handler = decorate(handler)
    return type(kind.kind.capitalize(), (MethodView,), {
        "__doc__": f"``/v1/claims/{{id}}/{kind.kind}``.", "__module__": __name__,
        "post": handler,
    })
