"""Links read from the claim they name: the ``ClaimLinked`` events whose payload names a
claim, found through an index of link targets rather than by reading the log.

The index is a partial expression index on ``payloads`` (a migration of both backends):
it holds the payloads that carry a ``"target_claim_id":"`` key (``ClaimLinked`` alone has
one) keyed by the id after it. Payloads are stored as RFC 8785 canonical JSON, so the key
is followed by the 36-character lowercase id the schema normalised; a quote inside any
string value is escaped, so no other text matches. The database keeps it within the
append's own transaction, no stored byte changes, and a redaction (which deletes the
payload) drops the link from it. Creating it reads the existing log once.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..envelope import RecordedEvent
from ..timeutil import normalize_time
from .events import EVENT_COLUMNS, SELECT_EVENTS
from .rows import event_from_row
from .sql import FORMAT, QMARK, Database, styled

#: the index's expression and its condition, in each dialect
_SQLITE_TARGET = "substr(data, instr(data, '\"target_claim_id\":\"') + 19, 36)"
_SQLITE_HOLDS = "instr(data, '\"target_claim_id\":\"') > 0"
_POSTGRES_TARGET = "substr(data, strpos(data, '\"target_claim_id\":\"') + 19, 36)"
_POSTGRES_HOLDS = "strpos(data, '\"target_claim_id\":\"') > 0"

#: the migration of each backend (SQLite, PostgreSQL): the index of link targets
LINK_TARGETS_INDEX = tuple(
    f"CREATE INDEX IF NOT EXISTS payloads_link_targets ON payloads (({target})) WHERE {holds};"
    for target, holds in ((_SQLITE_TARGET, _SQLITE_HOLDS), (_POSTGRES_TARGET, _POSTGRES_HOLDS))
)

_LINKED = (
    EVENT_COLUMNS + " JOIN payloads p ON p.position = e.position"
    " LEFT JOIN redactions r ON r.position = e.position WHERE e.type = 'ClaimLinked' AND "
)
#: the links naming a claim, in each dialect (the same expressions as the index's)
_LINKS_TO = (
    styled(_LINKED + "instr(p.data, '\"target_claim_id\":\"') > 0 AND substr(p.data,"
           " instr(p.data, '\"target_claim_id\":\"') + 19, 36) = ?")[QMARK],
    styled(_LINKED + "strpos(p.data, '\"target_claim_id\":\"') > 0 AND substr(p.data,"
           " strpos(p.data, '\"target_claim_id\":\"') + 19, 36) = ?")[FORMAT],
)
_AS_OF = styled(" AND e.recorded_at <= ?")
_BY_POSITION = " ORDER BY e.position"
#: a placeholder in each dialect; sources are read this many at a time
_MARK = ("?", "%s")
_CHUNK = 200
#: two statements, not one UNION ALL: PostgreSQL ran the union as a Parallel Append, and
#: starting its two workers took 25 ms of a 27 ms answer on this 2-core machine
_RECORDS = SELECT_EVENTS + " WHERE e.version = 1 AND e.claim_id IN ("
_CORRECTIONS = SELECT_EVENTS + " WHERE e.type = 'EntryCorrected' AND e.claim_id IN ("


class LinkReads:
    """The event reads that find links by the claim they name (``store.links``)."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def links_to(self, claim_id: str, *, as_of: str | None = None) -> list[RecordedEvent]:
        """Every ``ClaimLinked`` naming ``claim_id`` (recorded by ``as_of``, if given) whose
        payload is still there, in position order; voided ones too (the fold says)."""
        style = self._db.style
        statement = _LINKS_TO[style]
        params = [claim_id]
        if as_of is not None:
            statement += _AS_OF[style]
            params.append(normalize_time(as_of))
        with self._db.connection() as conn:
            rows = conn.execute(statement + _BY_POSITION, params).fetchall()
        return [event_from_row(row) for row in rows]

    def source_entries(
        self, claim_ids: Sequence[str], *, as_of: str | None = None
    ) -> list[RecordedEvent]:
        """The claims' ``ClaimRecorded`` and ``EntryCorrected`` events (recorded by
        ``as_of``): with their links, all the fold needs to say which links are active."""
        bound = normalize_time(as_of) if as_of is not None else None
        ids = list(claim_ids)
        found: list[RecordedEvent] = []
        with self._db.connection() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                marks = ",".join([_MARK[self._db.style]] * len(chunk))
                rows = conn.execute(_RECORDS + marks + ")", chunk).fetchall()
                rows += conn.execute(_CORRECTIONS + marks + ")", chunk).fetchall()
                found += [e for e in map(event_from_row, rows)
                          if bound is None or e.recorded_at <= bound]
        return found
