"""The verifiable log over HTTP: the signed checkpoint, the key, inclusion and consistency proofs.

All are auditor GETs (anonymous too with ``LEDGER_PUBLIC_READ=1``). Bad ranges are 422
problems (``invalid-range``), sizes past the log's head 404 (``beyond-head``), a size no
checkpoint was signed at 404 (``no-checkpoint``); unknown query parameters are a 422, so
a misspelt ``size`` is never silently answered with the latest checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from ledger.checkpoint import CheckpointError
from ledger.envelope import RecordedEvent
from ledger.log import LogService
from ledger.store.tree import StoredCheckpoint, TreeSizeError

from ..auth import principal, requires
from ..errors import Problem
from ..parsing import Blueprint
from ..responses import json_response
from ..state import ledger_state
from ..witnessing import served_note as witnessed_note

blp = Blueprint(
    "log", __name__, url_prefix="/v1/log",
    description="The verifiable log: signed checkpoints, the key and RFC 9162 proofs",
)
log = logging.getLogger("api.log")

_SERVICE = "claimledger.log"
_MAX = 2**63 - 1
_HEX = {"description": "SHA-256 hash, lowercase hex", "pattern": "^[0-9a-f]{64}$"}


def log_service() -> LogService:
    """This app's log service, opened on first use (the signing key is made by ``init``).

    The checkpoint interval is ``Settings.checkpoint_interval`` (``LEDGER_CHECKPOINT_INTERVAL``,
    or the app's ``CHECKPOINT_INTERVAL`` config).
    """
    service: LogService | None = current_app.extensions.get(_SERVICE)
    if service is None:
        state = ledger_state()
        interval = float(state.settings.checkpoint_interval)
        try:
            service = LogService.open(
                state.store, state.settings.signing_key, state.settings.log_origin,
                interval=interval,
            )
        except CheckpointError as exc:
            log.error("log unavailable: %s", exc)
            raise Problem(
                503, "The log has no signing key yet (run claimledger init).",
                slug="log-unavailable",
            ) from None
        current_app.extensions[_SERVICE] = service
    return service


class CheckpointAfterAppend:
    """Append hook: issue a checkpoint, at most one per LEDGER_CHECKPOINT_INTERVAL.

    One per app: it finds the app's log service on the first append and keeps it (the
    service, once opened, is never replaced), instead of looking it up after each one.
    """

    def __init__(self) -> None:
        self._service: LogService | None = None

    def __call__(self, _events: Sequence[RecordedEvent]) -> None:
        """Issue a checkpoint if the interval has passed since this process's last."""
        service = self._service
        if service is None:
            service = self._service = log_service()
        service.after_append()


def served_note(checkpoint: StoredCheckpoint) -> str:
    """The checkpoint's note as served: the log's signature, then any witness cosignatures."""
    return witnessed_note(ledger_state().store, checkpoint)


def require_auditor() -> None:
    """403 unless the caller holds the auditor role (anonymous is let in only by public read)."""
    who = principal()
    if who.role is not None and not who.may("auditor"):
        raise Problem(
            403,
            f"Proofs need the auditor role; this token has the {who.role} role.",
            slug="forbidden",
        )


def proof_problem(error: TreeSizeError) -> Problem:
    """A bad range as a 422, a size past the head as a 404."""
    if error.beyond_head:
        return Problem(404, str(error), slug="beyond-head")
    return Problem(422, str(error), slug="invalid-range")


# --- schemas ---------------------------------------------------------------------------
class NoQuerySchema(Schema):
    """No query parameters (any given is a 422)."""


class CheckpointQuerySchema(Schema):
    """Query of the checkpoint."""

    size = fields.Integer(
        validate=validate.Range(min=0, max=_MAX),
        metadata={"description": "the tree size whose signed checkpoint to answer"
                  " (default: the latest)"},
    )


class CheckpointsQuerySchema(Schema):
    """Query of the list of signed checkpoints."""

    after = fields.Integer(
        validate=validate.Range(min=0, max=_MAX),
        metadata={"description": "list sizes greater than this (default: from size 0)"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SignedSizeSchema(Schema):
    """One signed checkpoint: its tree size, root and when it was signed."""

    size = fields.Integer(required=True)
    root = fields.String(required=True, metadata=_HEX)
    issued_at = fields.String(required=True, metadata={"format": "date-time"})


class CheckpointPageSchema(Schema):
    """A page of signed checkpoints, smallest size first."""

    items = fields.List(fields.Nested(SignedSizeSchema), required=True)
    next_after = fields.Integer(
        required=True, allow_none=True,
        metadata={"description": "pass as after for the next page (null: nothing listed yet)"},
    )


class RotationSchema(Schema):
    """A recorded change of the log's signing key (``claimledger rotate-key``)."""

    size = fields.Integer(
        required=True, metadata={"description": "the tree size at which the new key takes over"}
    )
    old_key = fields.String(required=True, metadata={"description": "verifier key retired"})
    new_key = fields.String(required=True, metadata={"description": "verifier key that follows"})
    note = fields.String(
        required=True,
        metadata={"description": "signed note over the tree at size and both keys (a"
                  " `rotate-key OLD NEW` line after the root), signed by the old and the new key"},
    )
    rotated_at = fields.String(required=True, metadata={"format": "date-time"})


class KeySchema(Schema):
    """The log's public key, and the recorded rotations that lead to it."""

    origin = fields.String(required=True, metadata={"description": "The checkpoints' origin line"})
    public_key = fields.String(required=True, metadata={"description": "Ed25519 key, hex"})
    verifier_key = fields.String(
        required=True, metadata={"description": "C2SP signed-note verifier key: name+id+key"}
    )
    rotations = fields.List(
        fields.Nested(RotationSchema), required=True,
        metadata={"description": "every recorded key rotation, oldest first: an auditor who"
                  " pinned an older key follows them to verifier_key (docs/auditing.md)"},
    )


class InclusionQuerySchema(Schema):
    """Query of the inclusion proof."""

    index = fields.Integer(
        required=True, validate=validate.Range(min=0, max=_MAX),
        metadata={"description": "0-based leaf index (position - 1)"},
    )
    size = fields.Integer(
        validate=validate.Range(min=1, max=_MAX),
        metadata={"description": "tree size (default: the latest checkpoint's)"},
    )


class ConsistencyQuerySchema(Schema):
    """Query of the consistency proof."""

    first = fields.Integer(
        data_key="from", required=True, validate=validate.Range(min=1, max=_MAX),
        metadata={"description": "the smaller tree size (at least 1)"},
    )
    second = fields.Integer(
        data_key="to", validate=validate.Range(min=1, max=_MAX),
        metadata={"description": "the larger tree size (default: the latest checkpoint's)"},
    )


class InclusionSchema(Schema):
    """RFC 9162 inclusion proof (PATH), leaf side first."""

    index = fields.Integer(required=True)
    size = fields.Integer(required=True)
    leaf_hash = fields.String(required=True, metadata=_HEX)
    root = fields.String(required=True, metadata=_HEX)
    proof = fields.List(fields.String(metadata=_HEX), required=True)


class ConsistencySchema(Schema):
    """RFC 9162 consistency proof (PROOF)."""

    class Meta:
        """Keys are the API's names."""

        ordered = True

    first = fields.Integer(data_key="from", required=True)
    second = fields.Integer(data_key="to", required=True)
    root_from = fields.String(required=True, metadata=_HEX)
    root_to = fields.String(required=True, metadata=_HEX)
    proof = fields.List(fields.String(metadata=_HEX), required=True)


# --- resources -------------------------------------------------------------------------
@blp.route("/checkpoint")
class Checkpoint(MethodView):
    """``/v1/log/checkpoint``."""

    @requires("auditor")
    @blp.arguments(CheckpointQuerySchema(), location="query", unknown=RAISE)
    @blp.response(
        200, content_type="text/plain",
        description="The C2SP tlog-checkpoint as a signed note (text/plain)",
    )
    @blp.alt_response(404, response="NOT_FOUND", description="no checkpoint signed at size")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self, query: dict[str, int]) -> Response:
        """A signed checkpoint: origin, tree size, base64 root, Ed25519 signature.

        Without ``size``, the latest: a new one is issued when none exists or when the
        latest is older than the checkpoint interval and the log has grown since. With
        ``size``, the one signed for exactly that size (every signed one is kept).
        """
        size = query.get("size")
        if size is None:
            return Response(served_note(log_service().current()), mimetype="text/plain")
        stored = log_service().at(size)
        if stored is None:
            raise Problem(
                404, f"No checkpoint was signed for a tree of size {size}; GET"
                " /v1/log/checkpoints lists the sizes that were.", slug="no-checkpoint",
            )
        return Response(served_note(stored), mimetype="text/plain")


#: a JSON read of the log service, from the query its endpoint parsed
Read = Callable[[LogService, dict[str, int]], dict[str, Any]]
#: the log service has no signing key yet (``log_service`` answers 503)
UNAVAILABLE = (503, "SERVICE_UNAVAILABLE", None)


def log_route(
    path: str, query: type[Schema], answer: type[Schema], *alternatives: tuple[int, str, str | None]
) -> Callable[[Read], Read]:
    """Serve a read at ``/v1/log<path>`` as JSON: auditors only, no unknown query parameters, the
    read's docstring as its summary, ``alternatives`` (status, response, description) documented.

    A size past the head is a 404 and a bad range a 422 (``proof_problem``).
    """

    def route(read: Read) -> Read:
        def get(_view: MethodView, arguments: dict[str, int]) -> Response:
            try:
                return json_response(read(log_service(), arguments))
            except TreeSizeError as exc:
                raise proof_problem(exc) from None

        get.__doc__ = read.__doc__  # read by flask-smorest when the route is declared
        decorators = [  # as they would stand above the method, so applied bottom-up
            requires("auditor"),
            blp.arguments(query(), location="query", unknown=RAISE),
            blp.response(200, answer),
            *(blp.alt_response(status, response=response, description=description)
              for status, response, description in alternatives),
        ]
        for decorate in reversed(decorators):
            get = decorate(get)
        name = read.__name__.capitalize()  # the endpoint: log.Key, log.Inclusion, ...
        view = type(name, (MethodView,), {"__doc__": f"``/v1/log{path}``.", "get": get})
        blp.route(path)(view)
        return read

    return route


@log_route("/checkpoints", CheckpointsQuerySchema, CheckpointPageSchema, UNAVAILABLE)
def checkpoints(service: LogService, query: dict[str, int]) -> dict[str, Any]:
    """The sizes a checkpoint was signed at, smallest first, a page at a time.

    Follow ``next_after`` until a page comes back empty; fetch each note with
    ``GET /v1/log/checkpoint?size=N``.
    """
    after = query.get("after")
    stored = service.signed_after(-1 if after is None else after, query["limit"])
    items = [{"size": c.size, "root": c.root.hex(), "issued_at": c.issued_at} for c in stored]
    return {"items": items, "next_after": stored[-1].size if stored else after}


@log_route("/key", NoQuerySchema, KeySchema, UNAVAILABLE)
def key(service: LogService, _query: dict[str, int]) -> dict[str, Any]:
    """The key checkpoints are signed with; auditors pin ``verifier_key``."""
    return service.key_info()


@log_route("/proof/inclusion", InclusionQuerySchema, InclusionSchema,
           (404, "NOT_FOUND", "size is beyond the log's head"),
           (422, "UNPROCESSABLE_ENTITY", "index >= size"))
def inclusion(service: LogService, query: dict[str, int]) -> dict[str, Any]:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return service.inclusion(query["index"], query.get("size"))


@log_route("/proof/consistency", ConsistencyQuerySchema, ConsistencySchema,
           (404, "NOT_FOUND", "to is beyond the log's head"),
           (422, "UNPROCESSABLE_ENTITY", "from is 0 or > to"))
def consistency(service: LogService, query: dict[str, int]) -> dict[str, Any]:
    """RFC 9162 consistency proof: the tree of ``from`` leaves is a prefix of ``to``."""
    return service.consistency(query["first"], query.get("second"))


def history_with_proofs(events: Sequence[RecordedEvent]) -> dict[str, Any]:
    """``{"checkpoint", "events"}`` for history: each event with ``leaf_index`` and its proof."""
    try:
        checkpoint, proofs = log_service().event_proofs(events)
    except TreeSizeError as exc:
        raise proof_problem(exc) from None
    return {
        "checkpoint": checkpoint.note,
        "events": [{**e.to_json(), **proofs[e.position]} for e in events],
    }
