"""The log as C2SP tlog-tiles over HTTP: the whole log read back through tiles alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import checkpoint as cp
from ledger import tiles
from ledger.hashing import leaf_hash
from tests.support.api_harness import ApiHarness, assert_problem
from tests.support.ledger_log import ACTOR, grow, story

ORIGIN = "ledger.example.org/tiles"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> ApiHarness:
    directory = tmp_path_factory.mktemp("tlog-tiles")
    key = directory / "signing.key"
    cp.load_or_create_signing_key(key)
    api = ApiHarness.create(
        directory, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN, CHECKPOINT_INTERVAL=0, PUBLIC_READ=True
    )
    grow([api.store], 600, story(7))
    return api


def verifier(api: ApiHarness) -> str:
    key: str = api.get("/v1/log/key", role="auditor").get_json()["verifier_key"]
    return key


def fetch_tile(api: ApiHarness, role: str | None = "auditor") -> tiles.FetchTile:
    def fetch(tile: tiles.Tile) -> bytes:
        response = api.get(f"/tlog/{tile.path}", role=role)
        assert response.status_code == 200, (tile.path, response.get_data(as_text=True))
        assert response.mimetype == "application/octet-stream"
        return response.get_data()

    return fetch


def test_the_whole_log_read_through_tiles_alone_has_the_signed_root(api: ApiHarness) -> None:
    response = api.get("/tlog/checkpoint", role="auditor")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    signed = cp.open_checkpoint(response.get_data(as_text=True), verifier(api), origin=ORIGIN)
    assert signed.size == 600
    assert tiles.rebuild_root(signed.size, fetch_tile(api)) == signed.root


def test_each_bundle_entry_is_the_exact_leaf_input_of_its_event(api: ApiHarness) -> None:
    body = api.get("/tlog/tile/entries/002.p/88", role="auditor").get_data()
    entries = tiles.split_entry_bundle(body, 88)
    events = api.store.read_all(512, 88)
    assert [leaf_hash(e) for e in entries] == [bytes.fromhex(e.leaf_hash) for e in events]
    assert entries == [e.leaf_input() for e in events]
    assert all(b'"actor":"' + ACTOR.encode() in e for e in entries)


def test_anonymous_full_tiles_are_immutable_and_partial_ones_short_lived(api: ApiHarness) -> None:
    full = api.get("/tlog/tile/0/001", role=None)
    assert full.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(full.get_data()) == 256 * 32
    partial = api.get("/tlog/tile/0/002.p/88", role=None)
    assert partial.headers["Cache-Control"] == "public, max-age=60"
    assert partial.get_data() == b"".join(
        bytes.fromhex(e.leaf_hash) for e in api.store.read_all(512, 88)
    )
    checkpoint = api.get("/tlog/checkpoint", role=None)
    assert checkpoint.headers["Cache-Control"] == "public, max-age=5"


def test_answers_to_a_token_holder_are_never_stored(api: ApiHarness) -> None:
    response = api.get("/tlog/tile/0/000", role="auditor")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path",
    ["tile/0/003", "tile/0/002.p/89", "tile/1/000", "tile/1/000.p/3", "tile/entries/002",
     "tile/2/000.p/1"],
)
def test_a_tile_past_the_head_is_not_found(api: ApiHarness, path: str) -> None:
    problem = assert_problem(api.get(f"/tlog/{path}", role="auditor"), 404)
    assert problem["type"].endswith("beyond-head")


@pytest.mark.parametrize("path", ["tile/0/1", "tile/0/x000/001", "tile/0/000.p/256", "tile/x/000"])
def test_a_malformed_tile_path_is_not_found(api: ApiHarness, path: str) -> None:
    problem = assert_problem(api.get(f"/tlog/{path}", role="auditor"), 404)
    assert problem["type"].endswith("no-such-tile")


def test_tiles_need_the_auditor_role_unless_reads_are_public(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    cp.load_or_create_signing_key(key)
    private = ApiHarness.create(tmp_path, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN)
    private.new_claim()
    assert_problem(private.get("/tlog/tile/0/000.p/1", role=None), 401)
    assert_problem(private.get("/tlog/tile/0/000.p/1", role="editor"), 403)
    assert_problem(private.get("/tlog/checkpoint", role="reader"), 403)
    assert private.get("/tlog/tile/entries/000.p/1", role="auditor").status_code == 200
