"""The fold over redacted payloads: what is left, and what readers are told."""

from __future__ import annotations

import json

from ledger.envelope import RecordedEvent
from ledger.fold import fold
from tests.support.builders import ClaimBuilder, recorded

SECRET = "Tehran-source-Zeta-7"


def redacted(event: RecordedEvent) -> RecordedEvent:
    """The event as the store returns it after ``redact``: no payload, a redaction."""
    return event._replace(data=None, redaction={
        "actor": "legal@example.org", "reason": "Court order 14-223.",
        "redacted_at": "2014-09-20T00:00:00.000000Z",
    })


def test_a_state_lists_its_redacted_events_and_none_while_nothing_is_redacted() -> None:
    claim = ClaimBuilder()
    claim.record()
    denial = claim.deny()
    assert (fold(claim.events) or {})["redacted_event_ids"] == []
    events = [claim.events[0], redacted(denial)]
    result = fold(events)
    assert result is not None
    assert result["redacted_event_ids"] == [denial.id]
    assert [d["event_id"] for d in result["denials"]] == [denial.id]
    assert result["status"] == "denied"


def test_a_redacted_claim_recorded_leaves_a_state_without_its_text() -> None:
    claim = ClaimBuilder()
    first = claim.record(recorded(statement=f"{SECRET} said so.", claimant=SECRET,
                                  outlet=SECRET, tags=["zeta"]))
    claim.deny()
    result = fold([redacted(first), *claim.events[1:]])
    assert result is not None
    assert result["statement"] is None
    assert result["claimant"] is None
    assert result["tags"] == []
    assert result["appearances"] == []
    assert result["redacted_event_ids"] == [first.id]
    assert SECRET not in json.dumps(result)


def test_a_redacted_latest_verdict_leaves_no_verdict_not_the_one_it_replaced() -> None:
    claim = ClaimBuilder()
    claim.record()
    claim.rate("false")
    latest = claim.rate("true")
    assert (fold(claim.events) or {})["verdict"]["value"] == "true"
    result = fold([*claim.events[:-1], redacted(latest)])
    assert result is not None
    assert result["verdict"] is None
    assert result["redacted_event_ids"] == [latest.id]


def test_a_redacted_earlier_verdict_does_not_hide_the_latest() -> None:
    claim = ClaimBuilder()
    claim.record()
    earlier = claim.rate("false")
    claim.rate("true")
    result = fold([claim.events[0], redacted(earlier), claim.events[2]])
    assert result is not None
    assert result["verdict"]["value"] == "true"
