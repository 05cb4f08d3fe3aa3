"""``claimledger import --dry-run``: checks the file, writes nothing, lists likely duplicates
of claims in the ledger (from the search index) and within the file."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.search import open_search_index
from ledger.store import open_store
from tests.e2e.test_cli_ledger import ROOT, ledger_env, run
from workers.search import rebuild_search

EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"


def line(ref: str, statement: str) -> str:
    return json.dumps({"claim_ref": ref, "type": "ClaimRecorded", "data": {
        "statement": statement, "claimant": {"name": "Ali Khamenei"},
        "appearance": {"outlet": "Tasnim"}}})


def test_a_dry_run_lists_likely_duplicates_and_writes_nothing(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    (tmp_path / "var").mkdir()
    store = open_store(env["LEDGER_DATABASE_URL"])
    try:
        store.init()
        run(["import", str(EXAMPLE)], env)
        index = open_search_index(env["LEDGER_DATABASE_URL"])
        rebuild_search(index, store, store.scales, 1, batch_size=100)
        index.close()
        head = store.head()
        kerry = next(e.claim_id for e in store.read_all() if e.type == "ClaimRecorded"
                     and "Kerry personally" in str((e.data or {}).get("statement")))
        upload = tmp_path / "new.ndjson"
        upload.write_text("\n".join([
            line("a", "John Kerry personally asked Iran's foreign minister Javad Zarif for"
                      " cooperation against ISIL, and Zarif rejected the request."),
            line("b", "Saffron exports from Mashhad doubled in the spring of 2014."),
            line("c", "Saffron exports from Mashhad doubled in spring 2014."),
        ]) + "\n", encoding="utf-8")
        out = run(["import", "--dry-run", str(upload)], env).stdout.splitlines()
        assert out[0] == ("dry run: every line checked; would import 3 events into 3 claims;"
                          " nothing written")
        assert any(o.startswith(f"duplicate: line 1 is close to claim {kerry} (") for o in out)
        assert "duplicate: line 3 is close to line 2 of the file" in "\n".join(out)
        assert not any("line 2 is close to claim" in o for o in out), out
        assert store.head() == head
    finally:
        store.close()
