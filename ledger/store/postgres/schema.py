"""The PostgreSQL ledger's schema: its migrations, applied in order and recorded, once
each, by one process at a time (an advisory lock)."""

from __future__ import annotations

from typing import Final

from psycopg import sql

from .. import cosignatures, rotations, sessions
from ..events import CORRECTIONS_INDEX
from ..sql import FORMAT, Connection, apply_migrations

#: the column types the shared table definitions take (``sessions.TABLE`` …)
TYPES = {"int": "BIGINT", "key": 'TEXT COLLATE "C"'}
#: advisory lock key serialising schema migrations between processes.
MIGRATION_LOCK_KEY: Final = 0x6C6564676573

#: migration 3: tree nodes, checkpoints and redactions, all append-only; a payload may
#: be deleted only once a redaction of its position is recorded (a row trigger checks)
TREE_MIGRATION = """
CREATE TABLE merkle_nodes (
    level SMALLINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);
CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY,
    root BYTEA NOT NULL CHECK (octet_length(root) = 32),
    note TEXT NOT NULL,
    issued_at TEXT COLLATE "C" NOT NULL
);
CREATE TABLE redactions (
    position BIGINT PRIMARY KEY REFERENCES events (position),
    event_id TEXT COLLATE "C" NOT NULL UNIQUE,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    redacted_at TEXT NOT NULL
);
CREATE TRIGGER merkle_nodes_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER checkpoints_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER redactions_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON redactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
DROP TRIGGER payloads_refuse_change ON payloads;
CREATE TRIGGER payloads_refuse_change BEFORE UPDATE OR TRUNCATE ON payloads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE FUNCTION ledger_refuse_unredacted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM redactions r WHERE r.position = OLD.position) THEN
        RAISE EXCEPTION 'the ledger is append-only: DELETE on payloads refused unless redacted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER payloads_refuse_unredacted_delete BEFORE DELETE ON payloads
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_unredacted_delete();
"""

#: the desk's sessions; rows are deleted on sign-out and expiry
SESSIONS_MIGRATION = sessions.TABLE.format(**TYPES)

#: witness cosignatures of stored checkpoints
COSIGNATURES_MIGRATION = cosignatures.TABLE.format(**TYPES)

#: the key rotations of the log's checkpoints, refusing change like the others (migration 1)
ROTATIONS_MIGRATION = rotations.TABLE.format(**TYPES) + (
    "CREATE TRIGGER key_rotations_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE"
    " ON key_rotations\n    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();\n"
)

MIGRATIONS: Final[list[str]] = [
    # 1: the log, its payloads, idempotency keys; UPDATE/DELETE/TRUNCATE refused by triggers.
    # COLLATE "C" keeps comparisons and ordering bytewise, as in SQLite.
    """
    CREATE TABLE events (
        position BIGINT PRIMARY KEY,
        id TEXT COLLATE "C" NOT NULL UNIQUE,
        claim_id TEXT COLLATE "C" NOT NULL, version INTEGER NOT NULL,
        type TEXT NOT NULL, schema_version INTEGER NOT NULL,
        occurred_at TEXT COLLATE "C" NOT NULL, recorded_at TEXT COLLATE "C" NOT NULL,
        actor TEXT NOT NULL, metadata TEXT NOT NULL,
        payload_sha256 TEXT NOT NULL, prev_hash TEXT, leaf_hash TEXT NOT NULL,
        UNIQUE (claim_id, version)
    );
    CREATE TABLE payloads (
        position BIGINT PRIMARY KEY REFERENCES events (position),
        data TEXT NOT NULL
    );
    CREATE TABLE idempotency_keys (
        actor TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL,
        fingerprint TEXT NOT NULL,
        first_position BIGINT NOT NULL, last_position BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (actor, key)
    );
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$;
    CREATE TRIGGER events_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
    CREATE TRIGGER payloads_refuse_change BEFORE UPDATE OR DELETE OR TRUNCATE ON payloads
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
    """,
    # 2: API tokens (hash only) and the log of who created or revoked them
    """
    CREATE TABLE api_tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL, role TEXT NOT NULL,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT COLLATE "C" NOT NULL, created_by TEXT NOT NULL,
        revoked_at TEXT, revoked_by TEXT
    );
    CREATE TABLE api_token_log (
        seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        token_id TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL, at TEXT NOT NULL
    );
    """,
    # 3: tree nodes, checkpoints, redactions; payloads deletable only once redacted
    TREE_MIGRATION,
    # 4: desk sessions, revocable on the server
    SESSIONS_MIGRATION,
    # 5: witness cosignatures of checkpoints
    COSIGNATURES_MIGRATION,
    # 6: a claim's corrections found without reading its other events (the desk's pages)
    CORRECTIONS_INDEX,
    # 7: signing-key rotations of the checkpoints (`claimledger rotate-key`)
    ROTATIONS_MIGRATION,
]


def migrate(conn: Connection) -> None:
    """Apply the migrations not yet recorded in ``ledger_schema`` (inside a transaction)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
    _create_schema_if_missing(conn)
    apply_migrations(conn, FORMAT, MIGRATIONS, _run)


def _run(conn: Connection, script: str) -> None:
    conn.execute(script)


def _create_schema_if_missing(conn: Connection) -> None:
    """Create the first schema of ``search_path`` when it does not exist yet."""
    row = conn.execute("SELECT current_schema(), current_setting('search_path')").fetchone()
    if row is None or row[0] is not None:
        return
    for item in str(row[1]).split(","):
        name = item.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('""', '"')
        if name and name != "$user":
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
            return
