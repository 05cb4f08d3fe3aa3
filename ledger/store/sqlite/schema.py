"""The SQLite ledger's schema: its migrations, applied in order and recorded, once each."""

from __future__ import annotations

import sqlite3

from .. import cosignatures, rotations, sessions, tree
from ..events import CORRECTIONS_INDEX
from ..links import LINK_TARGETS_INDEX
from ..sql import QMARK, Connection, apply_migrations

#: the column types the shared table definitions take (``sessions.TABLE`` …)
TYPES = {"int": "INTEGER", "key": "TEXT", "bytes": "BLOB", "length": "length"}


def append_only(*tables: str) -> str:
    """Triggers refusing every UPDATE and DELETE on ``tables`` (they are append-only)."""
    return "".join(
        f"CREATE TRIGGER {table}_refuse_{verb.lower()} BEFORE {verb} ON {table}\n"
        f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: {verb} on {table} refused'); END;\n"
        for table in tables for verb in ("UPDATE", "DELETE")
    )


#: migration 3: tree nodes, checkpoints and redactions, all append-only; a payload may
#: be deleted only once a redaction of its position is recorded
TREE_MIGRATION = """
CREATE TABLE merkle_nodes (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
""" + tree.TABLES.format(**TYPES) + append_only("merkle_nodes", "checkpoints", "redactions") + """
DROP TRIGGER payloads_refuse_delete;
CREATE TRIGGER payloads_refuse_delete BEFORE DELETE ON payloads
WHEN NOT EXISTS (SELECT 1 FROM redactions r WHERE r.position = OLD.position)
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on payloads refused unless redacted');
END;
"""

#: migration 4: nodes keyed in the order appends complete them (``node_key``), so an
#: append's nodes all land on the right edge of one B-tree instead of on one edge per
#: level (a 100-event append wrote about 20 pages of nodes; now one or two)
KEYED_MIGRATION = """
CREATE TABLE merkle_nodes_keyed (
    k INTEGER PRIMARY KEY,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    CHECK (k = ((idx + 1) << (level + 6)) + level)
);
INSERT INTO merkle_nodes_keyed (k, level, idx, hash)
    SELECT ((idx + 1) << (level + 6)) + level, level, idx, hash FROM merkle_nodes ORDER BY 1;
DROP TABLE merkle_nodes;
ALTER TABLE merkle_nodes_keyed RENAME TO merkle_nodes;
""" + append_only("merkle_nodes")

#: the desk's sessions; rows are deleted on sign-out and expiry
SESSIONS_MIGRATION = sessions.TABLE.format(**TYPES)

#: witness cosignatures of stored checkpoints
COSIGNATURES_MIGRATION = cosignatures.TABLE.format(**TYPES)

#: the key rotations of the log's checkpoints, append-only
ROTATIONS_MIGRATION = rotations.TABLE.format(**TYPES) + append_only("key_rotations")

MIGRATIONS: list[str] = [
    # 1: the log, its payloads, idempotency keys; UPDATE/DELETE refused by triggers
    """
    CREATE TABLE events (
        position INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        claim_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        metadata TEXT NOT NULL,
        payload_sha256 TEXT NOT NULL,
        prev_hash TEXT,
        leaf_hash TEXT NOT NULL,
        UNIQUE (claim_id, version)
    );
    CREATE TABLE payloads (
        position INTEGER PRIMARY KEY REFERENCES events (position),
        data TEXT NOT NULL
    );
    CREATE TABLE idempotency_keys (
        actor TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        first_position INTEGER NOT NULL,
        last_position INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (actor, key)
    );
""" + append_only("events", "payloads"),
    # 2: API tokens (hash only) and the log of who created or revoked them
    """
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
    );
    CREATE TABLE api_token_log (
        seq INTEGER PRIMARY KEY,
        token_id TEXT NOT NULL,
        action TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL
    );
    """,
    # 3: tree nodes, checkpoints, redactions; payloads deletable only once redacted
    TREE_MIGRATION,
    # 4: tree nodes keyed in append order
    KEYED_MIGRATION,
    # 5: desk sessions, revocable on the server
    SESSIONS_MIGRATION,
    # 6: witness cosignatures of checkpoints
    COSIGNATURES_MIGRATION,
    # 7: a claim's corrections found without reading its other events (the desk's pages)
    CORRECTIONS_INDEX,
    # 8: signing-key rotations of the checkpoints (`claimledger rotate-key`)
    ROTATIONS_MIGRATION,
    # 9: the links naming a claim found without reading the log (``links.LinkReads``)
    LINK_TARGETS_INDEX[QMARK],
]



def migrate(conn: Connection) -> None:
    """Apply the migrations not yet recorded in ``ledger_schema`` (inside a transaction)."""
    apply_migrations(conn, QMARK, MIGRATIONS, _run)


def _run(conn: Connection, script: str) -> None:
    for statement in split_script(script):
        conn.execute(statement)


def split_script(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    return statements
