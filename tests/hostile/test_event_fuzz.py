"""Hypothesis over the event schemas: ``validate_payload`` either returns a payload that
validates again to itself, or raises ``ValidationFailed`` with paths under ``data``;
never any other exception."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from ledger.errors import ValidationFailed
from ledger.events import EVENT_TYPES, validate_payload
from tests.hostile.mutations import PAYLOADS, payloads
from tests.support.casecount import record
from tests.support.long import scaled

FUZZ = settings(
    max_examples=scaled(800, 12_000), deadline=None, database=None,
    suppress_health_check=list(HealthCheck),
)


def test_every_example_payload_is_valid() -> None:
    for kind, payload in PAYLOADS.items():
        assert validate_payload(kind, payload) == validate_payload(kind, payload)
    assert set(PAYLOADS) == set(EVENT_TYPES)


@FUZZ
@given(payloads())
def test_a_payload_is_either_valid_and_stable_or_a_validation_failure(
    case: tuple[str, Any],
) -> None:
    kind, data = case
    record("event payloads (validate_payload)")
    try:
        loaded = validate_payload(kind, data)
    except ValidationFailed as exc:
        errors = exc.errors
    else:
        assert validate_payload(kind, loaded) == loaded
        return
    assert errors
    assert all(path == "type" or path.startswith("data") for path in errors), errors
