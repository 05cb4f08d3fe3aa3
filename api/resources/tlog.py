"""The log as C2SP tlog-tiles under ``/tlog/``: the checkpoint, hash tiles, entry bundles.

Auditor GETs (anonymous too with ``LEDGER_PUBLIC_READ=1``). Full tiles never change and
are cached for a year; partial tiles and the checkpoint briefly. Answers to requests
carrying a token are never stored by caches (``no-store``, as everywhere in the API).
A tile past the log's head, or a malformed tile path, is a 404 problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response
from flask.views import MethodView

from ledger import tiles
from ledger.store.tree import TreeSizeError

from ..auth import requires
from ..errors import Problem
from ..parsing import Blueprint
from ..state import ledger_state
from .log import log_service, served_note

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint(
    "tlog", __name__, url_prefix="/tlog",
    description="The log as C2SP tlog-tiles: checkpoint, Merkle tree tiles and entry bundles",
)

#: Cache-Control of full tiles and full entry bundles (their bytes never change)
IMMUTABLE = "public, max-age=31536000, immutable"
#: Cache-Control of partial tiles (replaced by the full tile once it fills)
PARTIAL = "public, max-age=60"
#: Cache-Control of the checkpoint (a few seconds, as the spec asks)
CHECKPOINT = "public, max-age=5"


def tile_response(tile: tiles.Tile) -> Response:
    """The body of ``tile`` from the store, with the caching its fullness allows."""
    store = ledger_state().store
    try:
        if tile.level is None:
            events = store.read_all(tile.first, tile.width)
            if len(events) != tile.width:
                raise TreeSizeError("beyond head", beyond_head=True)
            body = tiles.entry_bundle([e.leaf_input() for e in events])
        else:
            body = tiles.tile_bytes(store.tree_hashes(tile.tree_level, tile.first, tile.width))
    except TreeSizeError:
        raise Problem(
            404, f"The log is not large enough for {tile.path} yet.", slug="beyond-head"
        ) from None
    return cached(body, "application/octet-stream", IMMUTABLE if tile.full else PARTIAL)


def cached(body: bytes | str, content_type: str, cache_control: str) -> Response:
    """``body`` as ``content_type``, with the ``Cache-Control`` its contents allow."""
    response = Response(body, content_type=content_type)
    response.headers["Cache-Control"] = cache_control
    return response


def tlog_get(content_type: str, description: str) -> Callable[[F], F]:
    """What every ``/tlog/`` GET declares first: auditors only, a 200 of ``content_type``."""

    def declare(get: F) -> F:
        answered = blp.response(200, content_type=content_type, description=description)(get)
        return requires("auditor")(answered)

    return declare


@blp.route("/checkpoint")
class Checkpoint(MethodView):
    """``/tlog/checkpoint``."""

    @tlog_get("text/plain", "The latest checkpoint as a signed note, with any witness cosignatures")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self) -> Response:
        """The latest signed checkpoint (as ``/v1/log/checkpoint``), cacheable for seconds."""
        return cached(served_note(log_service().current()), "text/plain; charset=utf-8", CHECKPOINT)


@blp.route("/tile/<path:path>")
class Tile(MethodView):
    """``/tlog/tile/<L>/<N>[.p/<W>]`` and ``/tlog/tile/entries/<N>[.p/<W>]``."""

    @tlog_get(
        "application/octet-stream",
        "A tile's hashes, or an entry bundle of uint16-length-prefixed leaf inputs",
    )
    @blp.alt_response(404, response="NOT_FOUND", description="malformed path or past the head")
    def get(self, path: str) -> Response:
        """A Merkle tree tile (concatenated SHA-256 hashes) or an entry bundle.

        ``<N>`` is written in 3-digit elements, all but the last prefixed with ``x``
        (1234067 is ``x001/x234/067``); ``.p/<W>`` asks for a partial tile of ``W``
        hashes. Each entry of a bundle is an event's exact leaf input, so
        ``SHA-256(0x00 || entry)`` is its leaf hash.
        """
        try:
            tile = tiles.parse_tile_path(path)
        except tiles.TileError as exc:
            raise Problem(404, f"No such tile: {exc}.", slug="no-such-tile") from None
        return tile_response(tile)
