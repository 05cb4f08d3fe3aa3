"""The HTTP append ceiling: the trivial Flask app's ``/echo`` plus one durable SQLite insert.

Each POST parses its JSON body, inserts it as one row in its own transaction (WAL,
``synchronous=FULL``: an fsync per commit, as the ledger's appends) into the file named
by ``BENCH_DURABLE_DB``, and answers 201. No authentication, validation, hashing, tree,
second table or views: what any durable append through Flask and gunicorn costs at least.
"""

from __future__ import annotations

import json
import os
import sqlite3

from flask import Flask, jsonify, request

app = Flask(__name__)
_connections: dict[int, sqlite3.Connection] = {}


def _connection() -> sqlite3.Connection:
    """This process's connection (gunicorn forks its workers after importing the app)."""
    conn = _connections.get(os.getpid())
    if conn is None:
        conn = sqlite3.connect(os.environ["BENCH_DURABLE_DB"], isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS rows (position INTEGER PRIMARY KEY, body TEXT)")
        _connections[os.getpid()] = conn
    return conn


@app.post("/echo")
def echo() -> tuple[object, int]:
    """Parse a JSON body, insert it durably as one row, answer 201 with its position."""
    body = request.get_json()
    conn = _connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        position = conn.execute("INSERT INTO rows (body) VALUES (?)", (json.dumps(body),)).lastrowid
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return jsonify({"ok": True, "position": position}), 201
