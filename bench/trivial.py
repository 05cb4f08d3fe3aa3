"""The trivial Flask app the HTTP scenarios compare against (served the same way)."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/echo")
def echo() -> tuple[object, int]:
    """Parse a JSON body and answer 201 with a small JSON document."""
    body = request.get_json()
    return jsonify({"ok": True, "size": len(body or {})}), 201


@app.get("/hello")
def hello() -> object:
    """Answer a small JSON document."""
    return jsonify({"hello": "world"})
