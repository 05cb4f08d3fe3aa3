"""``claimledger redact`` on the whole system (gunicorn, Redis, a worker): afterwards no
API endpoint, desk page or Redis key holds the text, and the SQLite file and WAL do not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from tests.support.api_harness import CLAIM, DENIAL, VERDICT, body
from tests.support.net import NO_REDIS
from tests.support.redis_text import keys_holding
from tests.support.server import Server, cli, serving_with_views
from tests.support.waiting import wait_until

SECRET = "zeta-7-source"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serving_with_views(tmp_path_factory.mktemp("redact"), LEDGER_PUBLIC_READ="1",
                            LEDGER_STREAM_MAX_SECONDS="1") as running:
        yield running


def redis_of(server: Server) -> Redis:
    return Redis.from_url(server.env["LEDGER_REDIS_URL"])


def secret_claim(server: Server, secret: str = SECRET) -> tuple[str, list[dict[str, Any]]]:
    """A claim carrying ``secret`` in its statement, claimant, outlet, tag, denial and
    verdict, read back from the views; its id and its events."""
    with server.client("editor") as client:
        claim = body(CLAIM, statement=f"The {secret} told Fars so.",
                     claimant={"name": secret}, tags=[secret],
                     appearance={"outlet": secret, "quote": f"{secret} quote"})
        claim_id = client.post("/v1/claims", json=claim).json()["claim_id"]
        client.post(f"/v1/claims/{claim_id}/denials", json=body(DENIAL, note=f"{secret}!"))
        last = client.post(f"/v1/claims/{claim_id}/verdicts",
                           json=body(VERDICT, explanation=f"From {secret}.")).json()
        state = client.get(f"/v1/claims/{claim_id}", params={"min_position": last["position"]})
        assert state.headers["X-Ledger-Source"] == "views"
        events = client.get(f"/v1/claims/{claim_id}/history").json()["events"]
    return claim_id, events


def every_answer(server: Server, claim_id: str) -> dict[str, str]:
    """Every GET of the API (from its OpenAPI document) and every desk page, as text."""
    answers: dict[str, str] = {}
    with server.client("admin") as client:
        spec = client.get("/openapi.json").json()
        head = server.head()
        for path, operations in spec["paths"].items():
            if "get" not in operations:
                continue
            url = path.replace("{claim_id}", claim_id).replace("{job_id}", "none")
            params = {"after": "0", "limit": "200"} if "/events" in path else {}
            if url.endswith("/stream"):
                params = {"after": "0"}
            if "proof/inclusion" in url:
                params = {"index": "0", "size": str(head)}
            answers[url] = client.get(url, params=params).text
        for url in (f"/v1/claims?claimant={SECRET}", f"/v1/claims?tag={SECRET}",
                    f"/v1/claims?outlet={SECRET}", "/v1/claims?limit=200",
                    f"/v1/claims/{claim_id}/history?proofs=true"):
            answers[url] = client.get(url).text
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for url in ("/desk/", f"/desk/claims/{claim_id}", f"/desk/claims/{claim_id}/history",
                    f"/desk/?tag={SECRET}", f"/desk/claims/{claim_id}/events?after=0"):
            page = anonymous.get(url)
            assert page.status_code == 200, (url, page.text[:300])
            answers[url] = page.text
    return answers


def database_bytes(server: Server) -> bytes:
    path = Path(server.env["LEDGER_DATABASE_URL"].removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_after_redact_no_endpoint_desk_page_redis_key_or_database_byte_holds_the_text(
    system: Server,
) -> None:
    claim_id, events = secret_claim(system)
    redis = redis_of(system)
    assert keys_holding(redis, SECRET)
    assert any(SECRET in text for text in every_answer(system, claim_id).values())
    for event in events:
        done = cli(system.env, "redact", event["id"], "--reason", "Court order 14-223.")
        lines = done.stdout.splitlines()
        assert any(line.startswith("store: deleted the payload") for line in lines), done.stdout
        assert any(line.startswith("store: checkpointed the write-ahead log") for line in lines)
        assert any(line.startswith("purged: generation") for line in lines), done.stdout
        assert SECRET not in done.stdout + done.stderr
    assert keys_holding(redis, SECRET) == []
    assert SECRET.encode() not in database_bytes(system)
    answers = every_answer(system, claim_id)
    # a filter form shows the filter the reader typed: that is their text, not the ledger's
    answers[f"/desk/?tag={SECRET}"] = answers[f"/desk/?tag={SECRET}"].replace(
        f'value="{SECRET}"', "")
    leaks = {url: text for url, text in answers.items() if SECRET in text}
    assert {url: text[text.index(SECRET) - 200:][:400] for url, text in leaks.items()} == {}
    assert keys_holding(redis, SECRET) == []  # the worker did not write it back meanwhile
    with system.client("reader") as client:
        state = client.get(f"/v1/claims/{claim_id}").json()
    assert sorted(state["redacted_event_ids"]) == sorted(e["id"] for e in events)


def test_redact_says_so_and_fails_while_redis_is_down_and_purge_only_retries(
    system: Server,
) -> None:
    _, events = secret_claim(system)
    down = {**system.env, "LEDGER_REDIS_URL": NO_REDIS}
    failed = cli(down, "redact", events[1]["id"], "--reason", "Court order.", check=False)
    assert failed.returncode != 0
    assert "store: deleted the payload" in failed.stdout
    assert "purge FAILED" in failed.stderr
    assert "--purge-only" in failed.stderr
    redis = redis_of(system)
    assert keys_holding(redis, f"{SECRET}!")  # the views still hold the denial's note
    again = cli(system.env, "redact", events[1]["id"], "--purge-only")
    assert "purged: generation" in again.stdout
    assert keys_holding(redis, f"{SECRET}!") == []
    unredacted = cli(system.env, "redact", events[2]["id"], "--purge-only", check=False)
    assert unredacted.returncode != 0
    assert "not redacted" in unredacted.stderr


def test_a_worker_folding_the_claim_during_redact_does_not_write_the_text_back(
    system: Server,
) -> None:
    secret = "omega-9-source"  # the other tests' claims keep theirs
    claim_id, events = secret_claim(system, secret)
    redis = redis_of(system)
    assert keys_holding(redis, secret)
    stop = threading.Event()
    appended: list[int] = []

    def append_notes() -> None:  # the worker keeps this claim's stream cached and folding
        with system.client("editor") as client:
            while not stop.is_set():
                answer = client.post(f"/v1/claims/{claim_id}/notes", json={"text": "still"})
                appended.append(answer.json()["position"])

    writer = threading.Thread(target=append_notes)
    writer.start()
    try:
        wait_until(lambda: len(appended) >= 5, 30, "notes to be appended")
        for event in events:
            cli(system.env, "redact", event["id"], "--reason", "Court order 14-223.")
        wait_until(lambda: len(appended) >= 15, 30, "more notes after the redaction")
    finally:
        stop.set()
        writer.join()
    with system.client("reader") as client:

        def caught_up() -> bool:
            state = client.get(f"/v1/claims/{claim_id}", params={"min_position": max(appended)})
            return state.headers["X-Ledger-Source"] == "views"

        wait_until(caught_up, 60, "the views to reach the last note")
        state = client.get(f"/v1/claims/{claim_id}")
    assert state.json()["version"] == len(events) + len(appended)
    assert secret not in state.text
    assert keys_holding(redis, secret) == []
