"""Sixteen writers sending If-Match for the same version to one claim, over real HTTP: one wins,
fifteen get 412, and the claim's versions have no gap."""

from __future__ import annotations

import threading

import httpx

from tests.support.api_harness import CLAIM, DENIAL
from tests.support.server import Server

WRITERS = 16


def test_sixteen_writers_with_the_same_if_match(server: Server) -> None:
    with server.client("editor") as editor:
        created = editor.post("/v1/claims", json=CLAIM)
    claim_id, etag = created.json()["claim_id"], created.headers["etag"]
    barrier = threading.Barrier(WRITERS)
    statuses: list[int] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        with server.client("editor") as client:
            client.get("/healthz")  # connect before the race starts
            barrier.wait(30)
            response = client.post(
                f"/v1/claims/{claim_id}/denials",
                json={**DENIAL, "note": f"writer {n}"},
                headers={"If-Match": etag},
            )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [201] + [412] * (WRITERS - 1)
    history = httpx.get(
        f"{server.url}/v1/claims/{claim_id}/history",
        headers={"Authorization": f"Bearer {server.tokens['reader']}"},
    ).json()
    assert [e["version"] for e in history["events"]] == [1, 2]
