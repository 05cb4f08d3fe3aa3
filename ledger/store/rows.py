"""Events from the stores' rows: both backends select the same columns in the same order
(``RecordedEvent``'s fields, then the redaction's actor, reason and time).

This is the hot path of every read (``read_all`` feeds the views' catch-up and rebuild,
the live streams, tiles, ``audit`` and exports), so it builds each event with as little
Python as it can:

- the payload is decoded when it is first used, not here (``StoredPayload``): half
  the cost of reading an event was decoding a payload that the tree, tiles, hashes
  and positions never look at, and the objects it made kept the garbage collector busy;
- the metadata is decoded by the stdlib's C scanner directly (``stored_json``), and
  ``{}`` (nearly all of it) is not parsed at all;
- the event is built positionally, as the tuple it is (``RecordedEvent`` is a named
  tuple), without the keyword ``__new__``;
- a page is fetched and built with the cyclic garbage collector paused
  (``collector_paused``): a page makes thousands of objects and no cycle, and each
  collection that their allocation triggers walks the young objects (and, every so
  often, the whole heap) for nothing. Measured on ``read-all-sqlite``: 1.36-1.62x the
  throughput with the pause than without, same run.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..envelope import RecordedEvent, StoredPayload, stored_json

_new = tuple.__new__


def event_from_row(row: Sequence[Any]) -> RecordedEvent:
    """An event from a row of the stores' event ``SELECT``."""
    (
        event_id, claim_id, version, position, kind, schema_version, data, occurred_at,
        recorded_at, actor, metadata, payload_sha256, prev_hash, leaf_hash,
        redacted_by, reason, redacted_at,
    ) = row
    event: RecordedEvent = _new(
        RecordedEvent,
        (
            event_id, claim_id, version, position, kind, schema_version,
            None if data is None else StoredPayload(data),
            occurred_at, recorded_at, actor,
            {} if metadata == "{}" else stored_json(metadata),
            payload_sha256, prev_hash, leaf_hash,
            None if redacted_by is None
            else {"actor": redacted_by, "reason": reason, "redacted_at": redacted_at},
        ),
    )
    return event


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for the block, as it was after it.

    Reference counting still frees everything at once; only the search for cycles
    waits, and the objects made meanwhile are looked at by the next collection. When
    two threads overlap, the first to resume it turns it back on: harmless, the other
    merely collects again.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
