"""Structured logs: JSON lines, request fields, and no passwords."""

from __future__ import annotations

import json
import logging

import pytest

from api import request_log as logs


def test_a_url_password_is_masked_wherever_it_appears() -> None:
    text = "connecting to postgresql://ledger:s3cret@db:5432/ledger and redis://:pw@cache:6379/0"
    masked = logs.mask_url(text)
    assert "s3cret" not in masked
    assert "pw@" not in masked
    assert "postgresql://ledger:***@db:5432/ledger" in masked
    assert "redis://:***@cache:6379/0" in masked


def test_a_record_becomes_one_json_line_with_its_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "claimledger.request", "levelname": "INFO", "msg": "GET %s %d",
         "args": ("/v1/claims/<uuid:claim_id>", 200), "route": "/v1/claims/<uuid:claim_id>",
         "status": 200, "actor": "token:desk", "request_id": "abc"}
    )
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET /v1/claims/<uuid:claim_id> 200"
    assert entry["status"] == 200
    assert entry["actor"] == "token:desk"
    assert entry["request_id"] == "abc"
    assert entry["ts"].endswith("Z")


def test_the_request_line_carries_every_field(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=logs.REQUEST_LOGGER):
        logs.log_request(method="POST", route="/v1/claims", path="/v1/claims", status=201,
                         seconds=0.0123, actor="token:desk", request_id="r-1")
    (record,) = caplog.records
    for name, value in {"method": "POST", "route": "/v1/claims", "status": 201,
                        "duration_ms": 12.3, "actor": "token:desk",
                        "request_id": "r-1"}.items():
        assert getattr(record, name) == value
