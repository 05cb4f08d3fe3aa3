"""Every signed checkpoint is kept and served: by exact size, and listed page by page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import checkpoint as cp
from tests.support.api_harness import DENIAL, ApiHarness, assert_problem
from tests.support.ledger_log import ACTOR, BACKENDS, database, note, recorded, story

ORIGIN = "ledger.example.org/log"
PROBLEMS = "https://claimledger.local/problems/"


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ApiHarness]:
    """A log of 9 events, a checkpoint signed after each append, and a gap at 10 and 11."""
    directory = tmp_path_factory.mktemp("log-checkpoints")
    key = directory / "signing.key"
    cp.load_or_create_signing_key(key)
    with database(request.param, directory) as url:
        api = ApiHarness.create(
            directory, DATABASE_URL=url, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN, CHECKPOINT_INTERVAL=0
        )
        for _ in range(3):
            claim = api.new_claim()
            for _ in range(2):
                assert api.post(f"/v1/claims/{claim}/denials", DENIAL).status_code == 201
        [claim] = story(1)
        api.store.append([recorded(claim), note(claim)], actor=ACTOR)  # no checkpoint signed
        yield api
        api.store.close()


def verifier(api: ApiHarness) -> str:
    key: str = api.get("/v1/log/key", role="auditor").get_json()["verifier_key"]
    return key


def listed(api: ApiHarness, limit: int) -> list[dict[str, object]]:
    """Every listed checkpoint, following next_after with pages of ``limit``."""
    items: list[dict[str, object]] = []
    page = api.get(f"/v1/log/checkpoints?limit={limit}", role="auditor").get_json()
    while page["items"]:
        items.extend(page["items"])
        page = api.get(
            f"/v1/log/checkpoints?after={page['next_after']}&limit={limit}", role="auditor"
        ).get_json()
    return items


def test_every_signed_size_is_listed_in_order_whatever_the_page_size(api: ApiHarness) -> None:
    sizes = [item["size"] for item in listed(api, 1000)]
    assert sizes == list(range(1, 10))
    assert listed(api, 2) == listed(api, 1000)


def test_the_checkpoint_of_each_listed_size_is_served_signed(api: ApiHarness) -> None:
    key = verifier(api)
    for item in listed(api, 4):
        response = api.get(f"/v1/log/checkpoint?size={item['size']}", role="auditor")
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        opened = cp.open_checkpoint(response.get_data(as_text=True), key, origin=ORIGIN)
        assert opened.size == item["size"]
        assert opened.root.hex() == item["root"] == api.store.root(opened.size).hex()


def test_a_size_never_signed_is_a_404_no_checkpoint(api: ApiHarness) -> None:
    for size in (0, 10, 10**6):  # 11 is signed once the latest is asked for
        problem = assert_problem(api.get(f"/v1/log/checkpoint?size={size}", role="auditor"), 404)
        assert problem["type"] == PROBLEMS + "no-checkpoint"
        assert f"size {size}" in problem["detail"]


def test_the_latest_checkpoint_then_covers_the_gap_and_is_listed(api: ApiHarness) -> None:
    latest = api.get("/v1/log/checkpoint", role="auditor").get_data(as_text=True)
    assert cp.open_checkpoint(latest, verifier(api)).size == 11
    page = api.get("/v1/log/checkpoints?after=9", role="auditor").get_json()
    assert [item["size"] for item in page["items"]] == [11]
    assert page["next_after"] == 11
    assert api.get("/v1/log/checkpoint?size=11", role="auditor").get_data(as_text=True) == latest
    empty = api.get("/v1/log/checkpoints?after=11", role="auditor").get_json()
    assert empty == {"items": [], "next_after": 11}


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/v1/log/checkpoint?sise=3", "sise"),
        ("/v1/log/checkpoint?size=3&extra=1", "extra"),
        ("/v1/log/checkpoints?from=3", "from"),
        ("/v1/log/key?verbose=1", "verbose"),
        ("/v1/log/proof/inclusion?index=0&size=3&leaf=1", "leaf"),
        ("/v1/log/proof/consistency?from=1&to=3&size=3", "size"),
    ],
)
def test_unknown_query_parameters_on_the_log_are_refused(
    api: ApiHarness, path: str, unknown: str
) -> None:
    problem = assert_problem(api.get(path, role="auditor"), 422, unknown)
    assert problem["type"] == PROBLEMS + "validation-failed"
    assert problem["errors"][unknown] == ["Unknown field."]


@pytest.mark.parametrize(
    "path",
    ["/v1/log/checkpoint?size=-1", "/v1/log/checkpoint?size=x",
     "/v1/log/checkpoints?after=-1", "/v1/log/checkpoints?limit=0",
     "/v1/log/checkpoints?limit=1001"],
)
def test_bad_values_are_refused(api: ApiHarness, path: str) -> None:
    assert_problem(api.get(path, role="auditor"), 422)


@pytest.mark.parametrize("path", ["/v1/log/checkpoint?size=1", "/v1/log/checkpoints"])
def test_the_history_of_checkpoints_is_for_auditors_and_admins(api: ApiHarness, path: str) -> None:
    assert_problem(api.get(path, role=None), 401)
    for role in ("reader", "editor"):
        assert_problem(api.get(path, role=role), 403)
    for role in ("auditor", "admin"):
        assert api.get(path, role=role).status_code == 200


def test_a_checkpoint_of_the_empty_log_is_listed_first(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    cp.load_or_create_signing_key(key)
    api = ApiHarness.create(tmp_path, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN, CHECKPOINT_INTERVAL=0)
    empty = api.get("/v1/log/checkpoint", role="auditor").get_data(as_text=True)
    assert cp.open_checkpoint(empty, verifier(api)).size == 0
    api.new_claim()
    assert [item["size"] for item in listed(api, 10)] == [0, 1]
    assert api.get("/v1/log/checkpoint?size=0", role="auditor").get_data(as_text=True) == empty
