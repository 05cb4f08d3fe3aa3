"""``claimledger verify --all`` against a real server: replay everything, resume, catch an edit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger import checkpoint as cp
from tests.support.server import Server, cli

from .test_verify_cli import _pinned_key, _story


def _verify(server: Server, *args: str) -> Any:
    return cli(server.env | {"LEDGER_TOKEN": server.tokens["auditor"]}, "verify",
               "--url", server.url, "--key", _pinned_key(server), *args, check=False)


def _edit_payload(server: Server, position: int) -> None:
    """What an operator with write access to the database could do behind the ledger's back."""
    database = Path(server.env["LEDGER_DATABASE_URL"].removeprefix("sqlite:///"))
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("DROP TRIGGER payloads_refuse_update")
        [(text,)] = conn.execute("SELECT data FROM payloads WHERE position = ?", (position,))
        data = json.loads(text)
        data["statement"] = "Kerry never asked anything of Zarif."
        conn.execute("UPDATE payloads SET data = ? WHERE position = ?",
                     (json.dumps(data), position))
    finally:
        conn.close()


def test_verify_all_replays_every_event_resumes_and_names_an_edited_payload(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(workers=1, LEDGER_CHECKPOINT_INTERVAL="0")
    _story(server, claims=3, denials=3)
    state = tmp_path / "auditor.json"

    first = _verify(server, "--all", "--state", str(state), "--page", "5")
    assert first.returncode == 0, first.stderr
    assert "replay: 12 events (payloads, leaves, chain links) and the root at size 12" in (
        first.stdout
    )
    assert first.stdout.splitlines()[-1] == "checked: 12 events, 0 proofs, 1 checkpoints"
    assert "OK" not in first.stdout.split()
    saved = json.loads(state.read_text())
    assert cp.open_checkpoint(saved["note"], _pinned_key(server)).size == 12
    assert saved["replay"]["size"] == 12

    _story(server, claims=1, denials=2)
    second = _verify(server, "--all", "--state", str(state))
    assert second.returncode == 0, second.stderr
    assert "replay: going on from position 12 (saved state)" in second.stdout
    assert "consistency: the saved checkpoint (size 12) is a prefix of size 15" in second.stdout
    assert second.stdout.splitlines()[-1] == "checked: 3 events, 1 proofs, 1 checkpoints"

    _edit_payload(server, 1)
    plain = _verify(server)  # signature only: passes, but says it checked no event
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[-1] == "checked: 0 events, 0 proofs, 1 checkpoints"
    # a resumed replay checks only the events added since: position 1 was checked before
    resumed = _verify(server, "--all", "--state", str(state))
    assert resumed.returncode == 0, resumed.stderr
    fresh = _verify(server, "--all", "--page", "4")
    assert fresh.returncode == 1
    assert "verification failed at position 1: payload check failed" in fresh.stderr
    assert fresh.stdout.splitlines()[-1].startswith("checked: ")


def test_verify_all_with_a_claim_checks_both_and_a_plain_state_note_is_read(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(workers=1, LEDGER_CHECKPOINT_INTERVAL="0")
    claims = _story(server, claims=2, denials=1)
    note_state = tmp_path / "plain.note"
    assert _verify(server, "--state", str(note_state)).returncode == 0
    assert note_state.read_text().startswith("claimledger.local/log\n4\n")
    both = _verify(server, "--all", "--claim", claims[1], "--state", str(note_state))
    assert both.returncode == 0, both.stderr
    assert f"claim {claims[1]}: 2 events" in both.stdout
    assert both.stdout.splitlines()[-1] == "checked: 6 events, 2 proofs, 1 checkpoints"
    assert json.loads(note_state.read_text())["replay"]["size"] == 4
    again = _verify(server, "--state", str(note_state))  # plain verify reads the JSON state
    assert again.returncode == 0, again.stderr
    assert "consistency: the saved checkpoint (size 4) is a prefix of size 4" in again.stdout
