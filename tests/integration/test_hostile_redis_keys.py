"""Only validated ids reach a Redis key: a hostile claim id is refused before any key is
built, and a hostile job id is a 404 that never touches Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api_harness import ApiHarness
from tests.support.redis_server import RedisServer
from tests.support.workers import redis_server_fixture  # noqa: F401
from workers.views import ViewReader

HOSTILE = ["*", "cl:live", "../x", "{p0}", "x\r\nFLUSHALL\r\n", "", "01A21B98" * 5,
           "01a21b98-2a8d-796e-8b54-f88b67019bd7:state", "\u0000"]


@pytest.mark.parametrize("claim_id", HOSTILE)
def test_a_hostile_claim_id_never_reaches_a_key(redis_server: RedisServer, claim_id: str) -> None:
    client = redis_server.client()
    reader = ViewReader(client)
    with pytest.raises(ValueError, match="badly formed"):
        reader.get_claim(claim_id)
    assert client.dbsize() == 0


@pytest.mark.parametrize(
    "job_id", ["cl-x:dependents", "cl-x\r\nFLUSHALL", "cl-*", "cl-" + "a" * 300, "cl-x y"]
)
def test_a_hostile_job_id_is_a_404_that_touches_no_key(
    redis_server: RedisServer, tmp_path: Path, job_id: str
) -> None:
    api = ApiHarness.create(tmp_path, REDIS_URL=redis_server.url)
    try:
        client = redis_server.client()
        client.set("rq:job:cl-x:dependents", "a string where RQ expects a hash")
        before = sorted(client.keys("*"))
        response = api.get(f"/v1/jobs/{job_id}")
        assert response.status_code in (404, 503), response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        assert sorted(client.keys("*")) == before
    finally:
        api.store.close()
