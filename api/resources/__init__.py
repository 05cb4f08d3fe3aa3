"""The HTTP resources, one blueprint per module: ``/v1``, ``/tlog``, health, metrics, ``/docs``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..entry_kinds import EntryKind
    from ..parsing import Blueprint


def blueprints(kinds: Sequence[EntryKind]) -> list[Blueprint]:
    """Every resource in the OpenAPI document, in its order (entries: one view per kind).

    Imported here, not at the top, so importing one resource does not import them all.
    """
    from . import (
        claimreview,
        claims,
        entries,
        events,
        health,
        imports,
        log,
        projections,
        prometheus,
        stream,
        tlog,
        tokens,
    )

    return [
        log.blp,  # the verifiable log: checkpoint, key, proofs
        tlog.blp,  # the same log as C2SP tlog-tiles
        claims.blp, entries.blueprint(kinds), events.blp, imports.blp, tokens.blp,
        health.blp, prometheus.blp,
        claimreview.blp,  # ClaimReview
        stream.blp,  # the live feed
        projections.blp,  # the views' status, rebuild and jobs
    ]
