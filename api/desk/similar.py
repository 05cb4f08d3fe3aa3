"""The desk's duplicate warning: claims already recorded close to a statement being typed.

``Record a claim`` has a section the page's script fills as the editor types the
statement (a small fetch of ``/desk/similar``, at most one in flight, after a pause);
without JavaScript, a refused form shows the same section for what was typed. Read from
the search index (``GET /v1/claims/similar``'s trigram similarity); nothing is shown when
the index cannot answer.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import request
from werkzeug.wrappers import Response as BaseResponse

from ..search import SIMILAR_THRESHOLD, search_service
from .pages import for_readers, page

log = logging.getLogger("api.desk")

#: how many close claims the warning lists
SHOWN = 3
#: statements shorter than this are not compared (too few words to mean anything)
MIN_LENGTH = 12


def similar_claims(statement: str) -> list[dict[str, Any]]:
    """Up to ``SHOWN`` claims close to ``statement`` (``{claim, score}``), [] if none or
    the index cannot answer."""
    statement = " ".join(statement.split())[:2000]
    if len(statement) < MIN_LENGTH:
        return []
    try:
        found = search_service().similar(statement, limit=SHOWN, threshold=SIMILAR_THRESHOLD)
    except Exception as exc:  # the warning is a help, never an obstacle
        log.info("desk: no similar claims (%s)", exc)
        return []
    return [{"claim": s.item, "score": s.score} for s in found]


@for_readers
def similar() -> BaseResponse:
    """The warning section alone (what the page's script puts in place)."""
    return page("_similar.html", similar=similar_claims(request.args.get("statement", "")),
                checked=True)
