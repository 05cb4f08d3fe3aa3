"""The CLI with what people type: bad import files explained in full, and id prefixes.

``import`` lists every error of a refused file (up to the check's limit, with a count; a
claim the ledger does not hold by line and id, as ``POST /v1/imports`` does) and says
plainly that a JSON array is not NDJSON; ``show``, ``history`` and ``redact`` take an
unambiguous prefix of an id, as git does, list the candidates of an ambiguous one and ask
for more than a too-short one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api import cli as cli_module
from api.cli.ids import MIN_PREFIX
from ledger.importing import MAX_ERRORS
from ledger.store import open_store
from tests.integration.store_contract import recorded

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "seed-2014-09-15.ndjson"


class Ledger:
    """A SQLite ledger driven through the CLI group in-process."""

    def __init__(self, tmp_path: Path) -> None:
        cli_module._register()
        self.tmp = tmp_path
        self.url = f"sqlite:///{tmp_path / 'ledger.db'}"
        self.runner = CliRunner(env={
            "LEDGER_DATABASE_URL": self.url, "LEDGER_DATA_DIR": str(tmp_path),
            "LEDGER_SIGNING_KEY": str(tmp_path / "signing.key"), "LEDGER_ACTOR": "cli:test",
        })
        assert self.cli("init").exit_code == 0

    def cli(self, *args: str) -> Result:
        return self.runner.invoke(cli_module.cli, list(args))

    def file(self, name: str, text: str) -> str:
        path = self.tmp / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def head(self) -> int:
        store = open_store(self.url)
        try:
            return store.head()
        finally:
            store.close()

    def claim_ids(self) -> list[str]:
        store = open_store(self.url)
        try:
            return store.ids_starting("", limit=100)
        finally:
            store.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path)


def example_lines() -> list[str]:
    return [line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_import_lists_every_error_of_a_bad_file_by_line(ledger: Ledger) -> None:
    good = example_lines()[0]
    bad = json.loads(good)
    bad["data"]["statement"] = ""
    text = "\n".join([good, "{not json", json.dumps(bad), '{"type": "ClaimRecorded"}'])
    result = ledger.cli("import", ledger.file("bad.ndjson", text))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines == [
        "Error: the import has invalid lines; nothing was written (4 errors):",
        "  line 2: Not valid JSON: Expecting property name enclosed in double quotes"
        " (line 1, column 2).",
        "  line 3, claim_ref: This claim_ref already names a claim.",
        "  line 3, data.statement: Must not be blank.",
        "  line 4, data: Missing data for required field.",
    ]
    assert ledger.head() == 0


def test_import_of_a_file_with_many_errors_shows_the_first_fifty_and_says_it_stopped(
    ledger: Ledger,
) -> None:
    result = ledger.cli("import", ledger.file("bad.ndjson", "{}\n" * 200))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].endswith(f"({MAX_ERRORS} errors, the check stops after {MAX_ERRORS}):")
    assert len(lines) == 1 + MAX_ERRORS
    assert all(line.startswith("  line ") for line in lines[1:])
    assert ledger.head() == 0


@pytest.mark.parametrize("layout", ["one line", "pretty"])
def test_import_of_a_json_array_says_it_takes_one_object_per_line(
    ledger: Ledger, layout: str
) -> None:
    objects = [json.loads(line) for line in example_lines()[:2]]
    text = json.dumps(objects, indent=2 if layout == "pretty" else None)
    result = ledger.cli("import", ledger.file("story.json", "\n" + text))
    assert result.exit_code == 1
    assert result.output.startswith("Error: this file is a JSON array; import takes NDJSON:"
                                    " one JSON object per line")
    assert "jq -c '.[]'" in result.output
    assert ledger.head() == 0


def test_a_line_that_is_an_array_is_named_as_one(ledger: Ledger) -> None:
    text = example_lines()[0] + "\n[1, 2]\n"
    result = ledger.cli("import", ledger.file("mixed.ndjson", text))
    assert result.exit_code == 1
    assert "  line 2: A JSON array, not an object: the import takes NDJSON" in result.output


@pytest.mark.parametrize("phased", [False, True])
def test_import_names_the_line_and_id_of_a_claim_the_ledger_does_not_hold(
    ledger: Ledger, phased: bool
) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    note = {"claim_id": missing, "type": "NoteAdded", "data": {"text": "Checked."}}
    lines = example_lines()[:3]
    text = "\n".join(lines[:2]) + ("\n\n" if phased else "\n") + "\n".join(
        [lines[2], json.dumps(note)])
    result = ledger.cli("import", *(["--phases"] if phased else []), ledger.file("f.ndjson", text))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: a line names a claim that does not exist; nothing was written (1 error):",
        f"  line {5 if phased else 4}, claim_id: No such claim ({missing}).",
    ]
    assert ledger.head() == 0  # with --phases too: no phase is appended


def test_show_history_and_redact_take_an_unambiguous_prefix(ledger: Ledger) -> None:
    assert ledger.cli("import", str(EXAMPLE)).exit_code == 0
    claim = ledger.claim_ids()[0]
    full = ledger.cli("show", claim, "--json")
    assert full.exit_code == 0, full.output
    short = ledger.cli("show", claim[:8].upper(), "--json")
    assert short.exit_code == 0, short.output
    assert json.loads(short.output) == json.loads(full.output)
    assert ledger.cli("history", claim[:8]).output == ledger.cli("history", claim).output
    first = json.loads(ledger.cli("history", claim, "--json").output)[-1]["id"]
    redacted = ledger.cli("redact", first[:13], "--reason", "Test.")
    assert redacted.exit_code == 0, redacted.output
    assert f"event {first}" in redacted.output


def test_an_ambiguous_prefix_lists_the_candidates_and_a_short_one_asks_for_more(
    ledger: Ledger,
) -> None:
    ids = ["abcd1234-0000-4000-8000-000000000001", "abcd5678-0000-4000-8000-000000000002",
           "abce0000-0000-4000-8000-000000000003"]
    store = open_store(ledger.url)
    try:
        store.append([recorded(claim) for claim in ids], actor="cli:test")
    finally:
        store.close()
    ambiguous = ledger.cli("show", "abcd")
    assert ambiguous.exit_code == 1
    assert ambiguous.output.splitlines() == [
        "Error: 2 claims start with abcd; give more of the id:",
        f"  {ids[0]}  Kerry asked Zarif to help against ISIL.",
        f"  {ids[1]}  Kerry asked Zarif to help against ISIL.",
    ]
    assert ledger.cli("show", "abcd5", "--json").exit_code == 0
    assert ledger.cli("show", "abce").exit_code == 0
    too_short = ledger.cli("show", "abc")
    assert too_short.exit_code == 2
    assert f"too short to look up: give at least {MIN_PREFIX} characters" in too_short.output
    unknown = ledger.cli("history", "ffff")
    assert unknown.exit_code == 1
    assert "Error: no claim id starts with ffff" in unknown.output
    not_an_id = ledger.cli("show", "kerry")
    assert not_an_id.exit_code == 2
    assert "'kerry' is not a claim id" in not_an_id.output
    missing = ledger.cli("show", "abcd1234-0000-4000-8000-00000000000f")
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_import_in_phases_cuts_at_blank_lines_after_checking_every_line(ledger: Ledger) -> None:
    lines = example_lines()
    text = "\n\n" + "\n".join(lines[:2]) + "\n\n\n" + lines[2] + "\n"
    result = ledger.cli("import", "--phases", ledger.file("phased.ndjson", text))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "imported 3 events into 2 claims (positions 1-3) in 2 phases")
    store = open_store(ledger.url)
    try:
        recorded = [e.recorded_at for e in store.read_all()]
    finally:
        store.close()
    assert recorded[0] == recorded[1] < recorded[2]
    bad = text + "\n{}\n"
    refused = ledger.cli("import", "--phases", ledger.file("bad.ndjson", bad))
    assert refused.exit_code == 1
    assert ledger.head() == 3  # a bad line anywhere: no phase is appended
