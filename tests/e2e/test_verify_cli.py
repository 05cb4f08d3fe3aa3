"""``claimledger verify`` against a real ``claimledger serve``: the auditor's loop end to end."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ledger import checkpoint as cp
from tests.support.paths import ROOT
from tests.support.server import Server, cli

CLAIM = {
    "statement": "John Kerry personally asked Iran's foreign minister to cooperate against ISIL.",
    "claimant": {"name": "Ali Khamenei"},
    "appearance": {"outlet": "Fars News Agency"},
}
DENIAL = {"by": {"name": "U.S. State Department"}, "note": "Iran is not welcome in the coalition."}


def _pinned_key(server: Server) -> str:
    key = cp.load_signing_key(Path(server.env["LEDGER_DATA_DIR"]) / "signing.key")
    return cp.verifier_key("claimledger.local/log", key.public_key())


def _story(server: Server, claims: int = 2, denials: int = 3) -> list[str]:
    ids = []
    with server.client("editor") as client:
        for _ in range(claims):
            created = client.post("/v1/claims", json=CLAIM)
            assert created.status_code == 201, created.text
            ids.append(created.json()["claim_id"])
            for _ in range(denials):
                assert client.post(f"/v1/claims/{ids[-1]}/denials", json=DENIAL).status_code == 201
    return ids


def _verify(server: Server, state: Path, *args: str) -> Any:
    return cli(server.env | {"LEDGER_TOKEN": server.tokens["auditor"]}, "verify",
               "--url", server.url, "--key", _pinned_key(server), "--state", str(state), *args,
               check=False)


def test_an_auditor_verifies_a_claim_then_growth_then_catches_an_edit(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(workers=2, LEDGER_CHECKPOINT_INTERVAL="0")
    claims = _story(server)
    state = tmp_path / "auditor.note"

    first = _verify(server, state, "--claim", claims[0])
    assert first.returncode == 0, first.stderr
    assert "inclusion proofs verified" in first.stdout
    assert first.stdout.splitlines()[-1] == "checked: 4 events, 4 proofs, 1 checkpoints"
    saved = cp.open_checkpoint(state.read_text(), _pinned_key(server))
    assert saved.size == 8

    _story(server, claims=1)
    redacted = cli(server.env, "redact", claims[1], "--reason", "Court order.", check=False)
    assert redacted.returncode != 0  # a claim id is not an event id: one clear line
    event = httpx.get(f"{server.url}/v1/claims/{claims[1]}/history",
                      headers={"Authorization": f"Bearer {server.tokens['reader']}"}).json()
    done = cli(server.env, "redact", event["events"][1]["id"], "--reason", "Court order 14-223.",
               check=False)
    assert "store: deleted the payload" in done.stdout
    assert done.returncode != 0  # no Redis here: the views could not be purged, and it says so
    position = event["events"][1]["position"]
    second = _verify(server, state, "--claim", claims[1])
    assert second.returncode == 0, second.stderr
    assert "consistency: the saved checkpoint (size 8) is a prefix of size 12" in second.stdout
    assert f"redacted payloads (hash kept, not checkable) at positions [{position}]" in (
        second.stdout
    )

    database = Path(server.env["LEDGER_DATABASE_URL"].removeprefix("sqlite:///"))
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER events_refuse_update")
        conn.execute("UPDATE events SET actor = 'token:mallory' WHERE position = 3")
    finally:
        conn.close()
    third = _verify(server, state, "--claim", claims[0])
    assert third.returncode == 1
    assert "verification failed at position 3: leaf check failed" in third.stderr
    audit = cli(server.env, "audit", "--quiet", check=False)
    assert audit.returncode == 1
    assert "audit failed at position 3: leaf check failed" in audit.stderr


def test_the_auditing_guides_hand_checks_hold_against_the_served_api(
    server_factory: Callable[..., Server],
) -> None:
    server = server_factory(workers=1, LEDGER_CHECKPOINT_INTERVAL="0", LEDGER_PUBLIC_READ="1")
    claims = _story(server, claims=3, denials=2)
    guide: dict[str, Any] = {}
    text = (ROOT / "docs" / "auditing.md").read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL):
        exec(compile(block, "docs/auditing.md", "exec"), guide)  # our own document
    old_note = httpx.get(f"{server.url}/v1/log/checkpoint").text
    _story(server, claims=1)
    history = httpx.get(f"{server.url}/v1/claims/{claims[2]}/history",
                        params={"proofs": "true"}).json()
    for event in history["events"]:
        assert guide["check_event"](event, event["inclusion_proof"], history["checkpoint"])
    new_note = httpx.get(f"{server.url}/v1/log/checkpoint").text
    old_size = guide["checkpoint_root"](old_note)[0]
    new_size = guide["checkpoint_root"](new_note)[0]
    proof = httpx.get(f"{server.url}/v1/log/proof/consistency",
                      params={"from": old_size, "to": new_size}).json()["proof"]
    assert guide["check_growth"](old_note, new_note, proof)
