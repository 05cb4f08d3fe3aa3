"""The event log's SQL that both backends run, written once: the event ``SELECT`` (its
columns in ``RecordedEvent``'s order, then the redaction's), a claim's page, the
one-index-seek reads, and the reads and writes a write transaction shares."""

from __future__ import annotations

from typing import Any

from ..envelope import RecordedEvent
from ..timeutil import normalize_time
from .caches import Leaf
from .rows import event_from_row
from .sql import Database, styled
from .writing import StoredKey, WriteTransaction

#: every event column, then its redaction's, from ``events e`` and its two joins
EVENT_COLUMNS = (
    "SELECT e.id, e.claim_id, e.version, e.position, e.type, e.schema_version, p.data,"
    " e.occurred_at, e.recorded_at, e.actor, e.metadata, e.payload_sha256, e.prev_hash,"
    " e.leaf_hash, r.actor, r.reason, r.redacted_at FROM events e"
)
#: the events with their payloads and redactions (``rows.event_from_row`` reads a row)
SELECT_EVENTS = (
    EVENT_COLUMNS + " LEFT JOIN payloads p ON p.position = e.position"
    " LEFT JOIN redactions r ON r.position = e.position"
)
#: a partial index of each claim's corrections (a migration of both backends)
CORRECTIONS_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_claim_corrections ON events (claim_id, version)"
    " WHERE type = 'EntryCorrected';"
)
#: the last position and when it was recorded
HEAD = "SELECT position, recorded_at FROM events ORDER BY position DESC LIMIT 1"
LEAVES_SINCE = styled(
    "SELECT position, claim_id, version, leaf_hash FROM events WHERE position > ?"
    " ORDER BY position LIMIT ?"
)

_CLAIM = styled(" WHERE e.claim_id = ?")
_AFTER_VERSION = styled(" AND e.version > ?")
_AS_OF = styled(" AND e.recorded_at <= ?")
_BY_VERSION = " ORDER BY e.version"
_LIMIT = styled(" LIMIT ?")
_VERSION = styled("SELECT version FROM events WHERE claim_id = ? ORDER BY version DESC LIMIT 1")
_CORRECTIONS = styled(
    SELECT_EVENTS + " WHERE e.claim_id = ? AND e.type = 'EntryCorrected' ORDER BY e.version"
)
_MAX_POSITION = "SELECT max(position) FROM events"
_BY_ID = styled(SELECT_EVENTS + " WHERE e.id = ?")
_EVENT_IDS = styled("SELECT id FROM events WHERE id >= ? AND id < ? ORDER BY id LIMIT ?")
_CLAIM_IDS = styled(
    "SELECT DISTINCT claim_id FROM events WHERE claim_id >= ? AND claim_id < ?"
    " ORDER BY claim_id LIMIT ?"
)
_CLAIM_EVENTS = styled(SELECT_EVENTS + " WHERE e.claim_id = ? ORDER BY e.version")
_CLAIM_EXISTS = styled("SELECT 1 FROM events WHERE claim_id = ? LIMIT 1")
_FIND_KEY = styled(
    "SELECT fingerprint, first_position, last_position FROM idempotency_keys"
    " WHERE actor = ? AND key = ?"
)
_INSERT_KEY = styled(
    "INSERT INTO idempotency_keys (actor, key, fingerprint, first_position, last_position,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_RANGE = styled(SELECT_EVENTS + " WHERE e.position BETWEEN ? AND ? ORDER BY e.position")
_DELETE_PAYLOAD = styled("DELETE FROM payloads WHERE position = ?")


def claim_page(
    style: int, claim_id: str, as_of: str | None, after: int, limit: int | None
) -> tuple[str, list[Any]]:
    """The ``WHERE … ORDER BY … LIMIT`` of a page of one claim's events, and its parameters."""
    where = _CLAIM[style]
    params: list[Any] = [claim_id]
    if after:
        where += _AFTER_VERSION[style]
        params.append(after)
    if as_of is not None:
        where += _AS_OF[style]
        params.append(normalize_time(as_of))
    where += _BY_VERSION
    if limit is not None:
        where += _LIMIT[style]
        params.append(limit)
    return where, params


class EventReads:
    """The event log's reads that are one statement in both backends."""

    def __init__(self, db: Database) -> None:
        """Use ``db``'s connections."""
        self._db = db

    def read_claim(
        self, claim_id: str, *, as_of: str | None = None, after: int = 0,
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """A claim's events in version order (see ``EventStore.read_claim``)."""
        where, params = claim_page(self._db.style, claim_id, as_of, after, limit)
        with self._db.connection() as conn:
            return [event_from_row(r) for r in conn.execute(SELECT_EVENTS + where, params)]

    def claim_version(self, claim_id: str) -> int:
        """A claim's last version (0 when it has no events)."""
        with self._db.connection() as conn:
            row = conn.execute(_VERSION[self._db.style], (claim_id,)).fetchone()
        return int(row[0]) if row else 0

    def claim_corrections(self, claim_id: str) -> list[RecordedEvent]:
        """A claim's ``EntryCorrected`` events in version order."""
        with self._db.connection() as conn:
            rows = conn.execute(_CORRECTIONS[self._db.style], (claim_id,))
            return [event_from_row(r) for r in rows]

    def head(self) -> int:
        """The last committed position (0 when empty)."""
        with self._db.connection() as conn:
            row = conn.execute(_MAX_POSITION).fetchone()
        return int(row[0] or 0) if row else 0

    def get_event(self, event_id: str) -> RecordedEvent | None:
        """One event by id."""
        with self._db.connection() as conn:
            row = conn.execute(_BY_ID[self._db.style], (event_id,)).fetchone()
        return event_from_row(row) if row else None

    def ids_starting(self, prefix: str, *, events: bool = False, limit: int = 10) -> list[str]:
        """Claim ids (event ids with ``events``) starting with ``prefix``, in order."""
        bounds, style = (prefix, prefix + "\U0010ffff", limit), self._db.style
        with self._db.connection() as conn:
            if events:
                rows = conn.execute(_EVENT_IDS[style], bounds).fetchall()
            else:
                rows = conn.execute(_CLAIM_IDS[style], bounds).fetchall()
        return [str(row[0]) for row in rows]


class SQLWriteTransaction(WriteTransaction):
    """The reads and writes of a write transaction that are the same in both backends."""

    #: the transaction's connection and its driver's placeholder style
    conn: Any
    style: int
    #: set before the first write is sent (PostgreSQL then rolls back explicitly on error)
    wrote: bool = False

    def leaves_since(self, position: int, limit: int) -> list[Leaf]:
        """Up to ``limit`` events after ``position``, in order, as ``Leaf`` tuples."""
        rows = self.conn.execute(LEAVES_SINCE[self.style], (position, limit))
        return [Leaf(*row) for row in rows]

    def claim_events(self, claim_id: str) -> list[RecordedEvent]:
        """A claim's committed events in version order."""
        rows = self.conn.execute(_CLAIM_EVENTS[self.style], (claim_id,))
        return [event_from_row(r) for r in rows]

    def claim_exists(self, claim_id: str) -> bool:
        """Whether a claim has any events."""
        return self.conn.execute(_CLAIM_EXISTS[self.style], (claim_id,)).fetchone() is not None

    def find_key(self, actor: str, key: str) -> StoredKey | None:
        """A stored idempotency key, if any."""
        row = self.conn.execute(_FIND_KEY[self.style], (actor, key)).fetchone()
        return StoredKey(row[0], row[1], row[2]) if row else None

    def insert_key(self, actor: str, key: str, stored: StoredKey, created_at: str) -> None:
        """Remember an idempotency key."""
        self.wrote = True
        self.conn.execute(_INSERT_KEY[self.style], (
            actor, key, stored.fingerprint, stored.first_position, stored.last_position,
            created_at,
        ))

    def read_range(self, first: int, last: int) -> list[RecordedEvent]:
        """Events with positions in ``[first, last]``."""
        return [event_from_row(r) for r in self.conn.execute(_RANGE[self.style], (first, last))]

    def delete_payload(self, position: int) -> None:
        """Delete a redacted payload (the database refuses it without a redaction)."""
        self.wrote = True
        self.conn.execute(_DELETE_PAYLOAD[self.style], (position,))
