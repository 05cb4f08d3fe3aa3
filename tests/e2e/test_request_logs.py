"""A served API logs one JSON line per request, echoes request ids, and never logs tokens."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.server import start_server
from tests.support.waiting import wait_until


def test_each_request_is_one_json_line_with_its_request_id_and_no_token(tmp_path: Path) -> None:
    server = start_server(tmp_path / "logs", workers=1)
    try:
        with server.client("auditor") as client:
            answer = client.get("/v1/events", headers={"X-Request-ID": "e2e-request-42"})
            made = client.get("/healthz")
        assert answer.headers["X-Request-Id"] == "e2e-request-42"
        assert made.headers["X-Request-Id"]

        def logged() -> list[dict[str, object]]:
            lines = server.log.read_text(encoding="utf-8").splitlines()
            found = []
            for line in lines:
                if line.startswith("{") and '"claimledger.request"' in line:
                    found.append(json.loads(line))
            return found

        wait_until(lambda: len(logged()) >= 2, 10, "the request log lines")
        entry = next(e for e in logged() if e["request_id"] == "e2e-request-42")
        assert entry["method"] == "GET"
        assert entry["route"] == "/v1/events"
        assert entry["status"] == 200
        assert entry["actor"] == "token:e2e-auditor"
        assert isinstance(entry["duration_ms"], float)
        text = server.log.read_text(encoding="utf-8")
        for token in server.tokens.values():
            assert token not in text
    finally:
        server.stop()
