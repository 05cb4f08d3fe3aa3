"""The log over HTTP: checkpoint, key, proofs, history with proofs, roles and problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import checkpoint as cp
from ledger import merkle
from ledger.verifier import verify_checkpoint_consistency, verify_history
from tests.support.api_harness import DENIAL, ApiHarness, assert_problem

ORIGIN = "ledger.example.org/log"


def harness(tmp_path: Path, **config: object) -> ApiHarness:
    key = tmp_path / "signing.key"
    cp.load_or_create_signing_key(key)
    return ApiHarness.create(tmp_path, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN, **config)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> ApiHarness:
    api = harness(tmp_path_factory.mktemp("log-http"), CHECKPOINT_INTERVAL=0)
    for _ in range(3):
        claim = api.new_claim()
        for _ in range(4):
            assert api.post(f"/v1/claims/{claim}/denials", DENIAL).status_code == 201
    return api


def verifier(api: ApiHarness) -> str:
    key: str = api.get("/v1/log/key", role="auditor").get_json()["verifier_key"]
    return key


def test_the_key_is_published_in_signed_note_form(api: ApiHarness) -> None:
    response = api.get("/v1/log/key", role="auditor")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"origin", "public_key", "verifier_key", "rotations"}
    assert body["rotations"] == []  # none recorded (claimledger rotate-key)
    parsed = cp.parse_verifier_key(body["verifier_key"])
    assert (parsed.name, parsed.public_key.hex()) == (ORIGIN, body["public_key"])


def test_the_checkpoint_is_a_plain_text_signed_note_covering_the_appends(api: ApiHarness) -> None:
    response = api.get("/v1/log/checkpoint", role="auditor")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    opened = cp.open_checkpoint(response.get_data(as_text=True), verifier(api), origin=ORIGIN)
    assert opened.size == api.store.head() == 15  # issued after the appends
    assert opened.root == api.store.root(15)


def test_proofs_verify_against_the_signed_roots(api: ApiHarness) -> None:
    old = api.store.checkpoint_at(15)
    assert old is not None
    inclusion = api.get("/v1/log/proof/inclusion?index=6&size=15", role="auditor").get_json()
    assert inclusion["root"] == old.root.hex()
    assert merkle.verify_inclusion(
        bytes.fromhex(inclusion["leaf_hash"]), 6, 15,
        [bytes.fromhex(h) for h in inclusion["proof"]], old.root,
    )
    smaller = api.store.checkpoint_at(1) or old
    consistency = api.get(f"/v1/log/proof/consistency?from={smaller.size}&to=15", role="auditor")
    assert consistency.status_code == 200
    body = consistency.get_json()
    assert (body["from"], body["to"]) == (smaller.size, 15)
    assert verify_checkpoint_consistency(smaller.note, old.note, body["proof"], verifier(api)).ok


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("/v1/log/proof/inclusion?index=15&size=15", 422),
        ("/v1/log/proof/inclusion?index=0&size=16", 404),
        ("/v1/log/proof/inclusion?index=-1&size=3", 422),
        ("/v1/log/proof/inclusion?size=3", 422),
        ("/v1/log/proof/inclusion?index=x&size=3", 422),
        ("/v1/log/proof/consistency?from=0&to=3", 422),
        ("/v1/log/proof/consistency?from=4&to=3", 422),
        ("/v1/log/proof/consistency?from=2&to=99", 404),
    ],
)
def test_bad_ranges_are_problems(api: ApiHarness, query: str, status: int) -> None:
    assert_problem(api.get(query, role="auditor"), status)


def test_history_with_proofs_verifies_against_its_checkpoint(api: ApiHarness) -> None:
    claim = api.store.read_all(0, 1)[0].claim_id
    plain = api.get(f"/v1/claims/{claim}/history", role="reader").get_json()
    assert "checkpoint" not in plain
    assert "inclusion_proof" not in plain["events"][0]
    response = api.get(f"/v1/claims/{claim}/history?proofs=true", role="auditor")
    assert response.status_code == 200
    body = response.get_json()
    assert body["claim_id"] == claim
    result = verify_history(body["events"], body["checkpoint"], verifier(api), claim_id=claim)
    assert result.ok, result.summary()
    assert result.checks["inclusion"] == 5


@pytest.mark.parametrize("path", ["/v1/log/checkpoint", "/v1/log/key",
                                  "/v1/log/proof/inclusion?index=0&size=1",
                                  "/v1/log/proof/consistency?from=1&to=2"])
def test_log_endpoints_are_for_auditors_and_admins(api: ApiHarness, path: str) -> None:
    assert_problem(api.get(path, role=None), 401)
    for role in ("reader", "editor"):
        assert_problem(api.get(path, role=role), 403)
    for role in ("auditor", "admin"):
        assert api.get(path, role=role).status_code == 200


def test_history_proofs_need_the_auditor_role(api: ApiHarness) -> None:
    claim = api.store.read_all(0, 1)[0].claim_id
    assert_problem(api.get(f"/v1/claims/{claim}/history?proofs=true", role="reader"), 403)


def test_public_read_opens_the_log_to_anonymous_clients(tmp_path: Path) -> None:
    api = harness(tmp_path, PUBLIC_READ=True)
    claim = api.new_claim()
    assert api.get("/v1/log/checkpoint", role=None).status_code == 200
    assert api.get("/v1/log/proof/inclusion?index=0&size=1", role=None).status_code == 200
    assert api.get(f"/v1/claims/{claim}/history?proofs=true", role=None).status_code == 200


def test_without_a_signing_key_the_log_is_unavailable_but_appends_work(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, SIGNING_KEY=tmp_path / "missing.key")
    api.new_claim()
    problem = assert_problem(api.get("/v1/log/checkpoint", role="auditor"), 503)
    assert "claimledger init" in problem["detail"]
