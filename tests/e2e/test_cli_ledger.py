"""The claimledger CLI end to end: the example story in, out, and back in, byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import rfc8785

from ledger.store import open_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"
CLI = [sys.executable, "-c", "from api.cli import main; main()"]
LEAF_KEYS = {
    "position",
    "id",
    "claim_id",
    "version",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "actor",
    "payload_sha256",
    "prev_hash",
}


def run(
    args: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one claimledger command."""
    result = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"claimledger {args} failed: {result.stderr}")
    return result


def ledger_env(tmp_path: Path, url: str | None = None) -> dict[str, str]:
    """An environment pointing the CLI at its own store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATA_DIR"] = str(tmp_path / "var")
    env["LEDGER_DATABASE_URL"] = url or f"sqlite:///{tmp_path / 'var' / 'ledger.db'}"
    env["LEDGER_ACTOR"] = "desk:e2e"
    return env


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """The example story imported into a fresh SQLite ledger and exported."""
    env = ledger_env(tmp_path / "source")
    run(["init"], env)
    run(["import", str(EXAMPLE)], env)
    out = tmp_path / "export.ndjson"
    run(["export", "--out", str(out)], env)
    return out


def test_the_exported_example_has_gap_free_positions_versions_and_an_intact_chain(
    exported: Path,
) -> None:
    events = [json.loads(line) for line in exported.read_bytes().splitlines()]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    versions: dict[str, int] = {}
    last_leaf: dict[str, str | None] = {}
    for event in events:
        claim = event["claim_id"]
        assert event["version"] == versions.get(claim, 0) + 1
        assert event["prev_hash"] == last_leaf.get(claim)
        versions[claim] = event["version"]
        last_leaf[claim] = event["leaf_hash"]
    assert len(versions) >= 5


def test_every_leaf_hash_can_be_recomputed_from_the_brief_alone(exported: Path) -> None:
    # Deliberately independent of ledger.hashing: hashlib and rfc8785 only, per docs/events.md.
    for line in exported.read_bytes().splitlines():
        event = json.loads(line)
        payload = hashlib.sha256(rfc8785.dumps(event["data"])).hexdigest()
        assert payload == event["payload_sha256"]
        leaf_input = rfc8785.dumps({k: event[k] for k in LEAF_KEYS})
        assert hashlib.sha256(b"\x00" + leaf_input).hexdigest() == event["leaf_hash"]
        for key in ("occurred_at", "recorded_at"):
            assert len(event[key]) == 27
            assert event[key].endswith("Z")


def test_restore_into_an_empty_sqlite_store_exports_byte_identical(
    exported: Path, tmp_path: Path
) -> None:
    env = ledger_env(tmp_path / "restored")
    result = run(["restore", str(exported)], env)
    assert "verified" in result.stdout
    again = tmp_path / "again.ndjson"
    run(["export", "--out", str(again)], env)
    assert again.read_bytes() == exported.read_bytes()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    base = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("LEDGER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("LEDGER_TEST_REQUIRE_POSTGRES=1 but LEDGER_TEST_POSTGRES_URL is not set")
        pytest.skip("LEDGER_TEST_POSTGRES_URL is not set")
    import psycopg

    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_restore_into_an_empty_postgres_store_exports_byte_identical(
    exported: Path, tmp_path: Path, postgres_url: str
) -> None:
    env = ledger_env(tmp_path / "pg", postgres_url)
    run(["restore", str(exported)], env)
    again = tmp_path / "again-pg.ndjson"
    run(["export", "--out", str(again)], env)
    assert again.read_bytes() == exported.read_bytes()


def test_restore_refuses_a_store_that_already_holds_events(exported: Path, tmp_path: Path) -> None:
    env = ledger_env(tmp_path / "busy")
    run(["restore", str(exported)], env)
    result = run(["restore", str(exported)], env, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert "empty" in result.stderr


def test_restore_of_a_tampered_export_names_the_position_and_writes_nothing(
    exported: Path, tmp_path: Path
) -> None:
    lines = exported.read_bytes().splitlines()
    event = json.loads(lines[2])
    event["data"]["statement" if "statement" in event["data"] else "note"] = "rewritten"
    lines[2] = json.dumps(event).encode()
    tampered = tmp_path / "tampered.ndjson"
    tampered.write_bytes(b"\n".join(lines) + b"\n")
    env = ledger_env(tmp_path / "tamper")
    result = run(["restore", str(tampered)], env, check=False)
    assert result.returncode != 0
    assert "position 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert run(["export"], env).stdout == ""


def test_a_bad_import_file_fails_with_its_errors_by_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    env = ledger_env(tmp_path)
    run(["init"], env)
    bad = tmp_path / "bad.ndjson"
    good_line = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(good_line + "\n{not json\n", encoding="utf-8")
    result = run(["import", str(bad)], env, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[1:] == [
        "  line 2: Not valid JSON: Expecting property name enclosed in double quotes"
        " (line 1, column 2)."
    ]
    assert run(["export"], env).stdout == ""


def test_show_and_history_read_a_claim_and_an_unknown_claim_is_one_clear_line(
    tmp_path: Path,
) -> None:
    env = ledger_env(tmp_path)
    run(["init"], env)
    run(["import", str(EXAMPLE)], env)
    first = json.loads(run(["export"], env).stdout.splitlines()[0])
    state = json.loads(run(["show", first["claim_id"], "--json"], env).stdout)
    assert state["id"] == first["claim_id"]
    assert state["statement"] == first["data"]["statement"]
    # one import is one transaction: every event of it shares recorded_at
    at = json.loads(
        run(["show", first["claim_id"], "--json", "--as-of", first["recorded_at"]], env).stdout
    )
    assert at == state
    earlier = first["recorded_at"].replace("Z", "+00:01")  # a minute before the import
    before = run(["show", first["claim_id"], "--as-of", earlier], env, check=False)
    assert before.returncode == 1
    assert "does not exist" in before.stderr
    then = json.loads(
        run(["show", first["claim_id"], "--json", "--valid-at", first["occurred_at"]], env).stdout
    )
    assert then["counts"]["denials"] == 0
    assert then["counts"] != state["counts"]
    history = run(["history", first["claim_id"]], env).stdout
    assert "ClaimRecorded" in history
    missing = run(["show", str(uuid.uuid4())], env, check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: claim ")
    assert "Traceback" not in missing.stderr


def test_show_lists_a_claims_links_both_ways_as_the_api_does(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    run(["init"], env)
    claim = {"statement": "Kerry asked Zarif to cooperate against ISIL.",
             "claimant": {"name": "Ali Khamenei"}, "appearance": {"outlet": "Fars"}}
    lines = [
        {"claim_ref": "kerry", "type": "ClaimRecorded", "data": claim,
         "occurred_at": "2014-09-15T08:00:00Z"},
        {"claim_ref": "sherman", "type": "ClaimRecorded", "occurred_at": "2014-09-15T09:00:00Z",
         "data": {**claim, "statement": "Sherman asked Araqchi for cooperation."}},
        {"claim_ref": "sherman", "type": "ClaimLinked", "related_claim_ref": "kerry",
         "data": {"kind": "restates"}, "occurred_at": "2014-09-15T12:00:00Z"},
    ]
    file = tmp_path / "linked.ndjson"
    file.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    run(["import", str(file)], env)
    events = [json.loads(line) for line in run(["export"], env).stdout.splitlines()]
    kerry, sherman, link = events[0]["claim_id"], events[1]["claim_id"], events[2]
    state = json.loads(run(["show", kerry, "--json"], env).stdout)
    assert state["linked_from"] == [{"event_id": link["id"], "claim_id": sherman,
                                     "kind": "restates", "occurred_at": link["occurred_at"]}]
    assert f"claim {sherman} restates this one" in run(["show", kerry], env).stdout
    assert f"restates claim {kerry}" in run(["show", sherman], env).stdout
    before = json.loads(run(["show", kerry, "--json", "--valid-at", "2014-09-15T11:00:00Z"],
                            env).stdout)
    assert "linked_from" not in before


def test_init_is_safe_to_repeat(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    run(["init"], env)
    run(["import", str(EXAMPLE)], env)
    head = run(["export"], env).stdout
    run(["init"], env)
    assert run(["export"], env).stdout == head


def test_init_creates_a_missing_data_directory_for_its_owner_only(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    env["LEDGER_DATA_DIR"] = str(tmp_path / "not" / "there" / "yet")
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'store' / 'ledger.db'}"
    result = run(["init"], env)
    data = tmp_path / "not" / "there" / "yet"
    assert f"created the data directory {data}" in result.stdout
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "signing.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "store" / "ledger.db").stat().st_mode) == 0o600
    run(["init"], env)  # and again, with everything in place


def test_the_example_imported_in_phases_replays_as_docs_events_md_shows(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    (tmp_path / "var").mkdir()
    store = open_store(env["LEDGER_DATABASE_URL"])  # `init` in process: one start-up fewer
    try:
        store.init()
        imported = run(["import", "--if-empty", "--phases", str(EXAMPLE)], env).stdout
        log = store.read_all()
    finally:
        store.close()
    assert imported.strip() == "imported 18 events into 6 claims (positions 1-18) in 3 phases"
    phases = sorted({e.recorded_at for e in log})
    assert len(phases) == 3
    # the blank lines of the file are the cuts: 9 events, 7, then 2
    assert [sum(e.recorded_at == at for e in log) for at in phases] == [9, 7, 2]
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    section = text.split("<!-- replay:start -->")[1].split("<!-- replay:end -->")[0]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))
    result = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    shown = text.split("<!-- replay:end -->")[1].split("```text\n")[1].split("```")[0]
    expected = [line.removesuffix(" …") for line in shown.splitlines()]
    got = result.stdout.splitlines()
    assert len(got) == len(expected) == 3
    for line, start in zip(got, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "Deputy Secretary" in got[0]
    assert "Deputy Secretary" not in got[1]
