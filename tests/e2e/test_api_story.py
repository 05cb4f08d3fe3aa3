"""The example story through a real server: the seed file imported over HTTP, then a claim
logged entry by entry as the day developed, read back now, as of earlier, and as history."""

from __future__ import annotations

import itertools
import json

from tests.support.paths import EXAMPLE
from tests.support.server import Server


def test_the_example_seed_imports_over_http(server_factory) -> None:  # type: ignore[no-untyped-def]
    server: Server = server_factory()
    with server.client("editor") as editor:
        response = editor.post(
            "/v1/imports",
            content=EXAMPLE.read_bytes(),
            headers={"Content-Type": "application/x-ndjson", "Idempotency-Key": "seed"},
        )
    assert response.status_code == 201, response.text
    result = response.json()
    lines = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    assert result["count"] == len(lines)
    assert (result["first_position"], result["last_position"]) == (1, len(lines))
    recorded = {line["claim_ref"] for line in lines if line["type"] == "ClaimRecorded"}
    assert set(result["claims"]) == recorded
    with server.client("reader") as reader:
        kerry = reader.get(f"/v1/claims/{result['claims']['kerry-zarif']}").json()
        sherman = reader.get(f"/v1/claims/{result['claims']['sherman-araqchi']}").json()
    assert kerry["status"] == "disputed"
    assert kerry["verdict"] is not None
    assert kerry["counts"]["appearances"] == 2
    assert sherman["counts"]["appearances"] == 2  # the duplicate Fars appearance was voided
    with server.client("auditor") as auditor:
        feed = auditor.get("/v1/events", params={"limit": 1000}).json()
    assert [e["position"] for e in feed["items"]] == list(range(1, len(lines) + 1))
    assert {e["actor"] for e in feed["items"]} == {"token:e2e-editor"}


def test_a_claim_logged_as_the_story_develops(server: Server) -> None:
    with server.client("editor") as editor, server.client("reader") as reader:
        created = editor.post(
            "/v1/claims",
            json={
                "statement": "Iran will not aid the United States in its fight against ISIL.",
                "claimant": {"name": "Ali Khamenei"},
                "appearance": {
                    "outlet": "Fars News Agency",
                    "published_at": "2014-09-15T13:00:00+04:30",
                },
                "tags": ["iran", "isil"],
                "occurred_at": "2014-09-15T11:00:00+04:30",
            },
        )
        assert created.status_code == 201
        claim_id = created.json()["claim_id"]
        url = f"/v1/claims/{claim_id}"
        assert created.headers["location"] == url
        first = reader.get(url)
        assert first.json()["status"] == "unverified"
        assert first.headers["etag"] == '"1"'

        appearance = editor.post(
            f"{url}/appearances",
            json={"appearance": {"outlet": "Washington Free Beacon"}},
            headers={"If-Match": first.headers["etag"]},
        )
        assert appearance.status_code == 201
        corroboration = editor.post(
            f"{url}/corroborations",
            json={
                "by": {"name": "John Kerry"},
                "note": "Kerry said a channel of communication with Iran is common sense.",
                "occurred_at": "2014-09-15T16:00:00+02:00",
            },
            headers={"If-Match": appearance.headers["etag"]},
        )
        assert corroboration.status_code == 201
        before_denial = corroboration.json()["recorded_at"]
        denial = editor.post(
            f"{url}/denials",
            json={"by": {"name": "U.S. State Department"}, "occurred_at": "2014-09-15T19:00:00Z"},
        )
        assert denial.status_code == 201
        # read your writes: the views may trail the log, min_position waits for them
        after_denial = {"min_position": denial.json()["position"]}
        assert reader.get(url, params=after_denial).json()["status"] == "disputed"

        void = editor.post(
            f"{url}/corrections",
            json={
                "target_event_id": corroboration.json()["id"],
                "kind": "void",
                "reason": "Kerry spoke of talking to Iran, not of Iran's refusal.",
            },
        )
        assert void.status_code == 201
        verdict = editor.post(
            f"{url}/verdicts",
            json={"scale": "standard", "value": "true", "explanation": "Iran stayed out."},
        )
        assert verdict.status_code == 201
        assert verdict.headers["etag"] == '"6"'

        now = reader.get(url, params={"min_position": verdict.json()["position"]}).json()
        assert now["status"] == "denied"
        assert now["verdict"]["label"] == "True"
        assert now["voided_event_ids"] == [corroboration.json()["id"]]
        then = reader.get(url, params={"as_of": before_denial}).json()
        assert (then["status"], then["version"]) == ("corroborated", 3)
        world = reader.get(url, params={"valid_at": "2014-09-15T15:00:00Z"}).json()
        assert world["status"] == "unverified"  # the corroboration it knew of is voided now

        history = reader.get(f"{url}/history").json()
        events = history["events"]
        assert [e["type"] for e in events] == [
            "ClaimRecorded",
            "AppearanceAdded",
            "ClaimCorroborated",
            "ClaimDenied",
            "EntryCorrected",
            "VerdictIssued",
        ]
        assert [e["version"] for e in events] == [1, 2, 3, 4, 5, 6]
        for previous, event in itertools.pairwise(events):
            assert event["prev_hash"] == previous["leaf_hash"]
        assert reader.get(f"{url}/history", headers={"If-None-Match": '"6"'}).status_code == 304
