"""``claimledger export --format claimreview``: every rated claim, as a JSON array or NDJSON."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_claimreview import check_claim_review
from tests.support.paths import EXAMPLE
from tests.support.server import cli, ledger_env


def test_export_writes_every_rated_claim_as_a_valid_claim_review(tmp_path: Path) -> None:
    env = ledger_env(tmp_path, LEDGER_REVIEW_AUTHOR="Example Fact Check",
                     LEDGER_PUBLIC_URL="https://ledger.example/")
    cli(env, "init")
    cli(env, "import", str(EXAMPLE))
    array = json.loads(cli(env, "export", "--format", "claimreview").stdout)
    assert isinstance(array, list)
    assert array
    for review in array:
        check_claim_review(review)
        assert review["author"] == {"@type": "Organization", "name": "Example Fact Check"}
        assert review["url"].startswith("https://ledger.example/desk/claims/")
    out = tmp_path / "reviews.ndjson"
    cli(env, "export", "--format", "claimreview-ndjson", "--out", str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == array
    log = cli(env, "export").stdout.splitlines()
    assert len(log) == len([x for x in EXAMPLE.read_text(encoding="utf-8").splitlines() if x])


def test_export_of_a_ledger_without_verdicts_is_an_empty_array(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    cli(env, "init")
    assert json.loads(cli(env, "export", "--format", "claimreview").stdout) == []
    assert cli(env, "export", "--format", "claimreview-ndjson").stdout == ""


def test_without_a_public_url_the_review_is_named_by_its_claim(tmp_path: Path) -> None:
    env = ledger_env(tmp_path)
    cli(env, "init")
    cli(env, "import", str(EXAMPLE))
    reviews = json.loads(cli(env, "export", "--format", "claimreview").stdout)
    assert all(r["url"].startswith("urn:uuid:") for r in reviews)
    for review in reviews:
        check_claim_review(review)
