"""What an editor takes away from the desk: the filtered claim list as CSV (streamed,
bounded, safe to open in a spreadsheet) and a claim's printable record with its hashes and
what was verified."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.desk import exports
from api.desk.exports import COLUMNS, FORMULA_START, WIDE_FORMULA_START, safe_cell
from ledger import checkpoint as cp
from ledger.log import LogService
from tests.integration.desk_support import viewed_api, views_server_fixture  # noqa: F401
from tests.integration.test_desk_pages import Desk, text
from tests.support.api_harness import DENIAL, VERDICT, ApiHarness
from tests.support.redis_server import RedisServer


def rows(body: bytes) -> list[dict[str, str]]:
    decoded = body.decode("utf-8")
    assert decoded.startswith("\ufeff")  # spreadsheets read the file as UTF-8
    assert all(line.startswith('"') for line in decoded[1:].splitlines())  # every cell quoted
    return list(csv.DictReader(io.StringIO(decoded[1:])))


@given(st.text())
def test_a_cell_never_starts_a_formula_and_keeps_its_text(value: str) -> None:
    cell = safe_cell(value)
    assert not cell.startswith(FORMULA_START)
    assert cell in (value, "'" + value)
    if value.lstrip().startswith(FORMULA_START + WIDE_FORMULA_START):
        assert cell == "'" + value


@pytest.mark.parametrize("value", [
    " =1+1", "\n=HYPERLINK(\"http://evil.example\")", "\u200b=1+1", "\ufeff@SUM(A1)",
    "\u00a0+1", "\u202e=cmd|' /C calc'!A0", "\uff1d1+1", "  \uff20SUM(A1)", "\t=1", "\r-1",
])
def test_a_formula_behind_blanks_or_in_full_width_is_defused(value: str) -> None:
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Kerry asked", " Kerry = asked", "", "'quoted", "1-2"])
def test_a_cell_that_is_no_formula_is_kept(value: str) -> None:
    assert safe_cell(value) == value


def test_the_csv_export_honours_the_lists_filters_and_defuses_formulas(
    tmp_path: Path, views_server: RedisServer
) -> None:
    viewed = viewed_api(tmp_path, views_server)
    api, desk = viewed.api, Desk(viewed.api)
    denied = api.new_claim(statement="=HYPERLINK(\"http://evil.example\",\"click\")",
                           claimant={"name": "@Khamenei"}, tags=["iran", "isil"],
                           appearance={"outlet": "-Fars News"})
    api.post(f"/v1/claims/{denied}/denials", DENIAL)
    other = api.new_claim(statement="Zarif rejected the request.", tags=["zarif"])
    api.post(f"/v1/claims/{other}/verdicts", VERDICT)
    viewed.project()
    assert desk.get("/desk/claims.csv").status_code == 302  # sign in first
    desk.sign_in("reader")
    assert 'href="/desk/claims.csv?status=denied"' in text(desk.get("/desk/?status=denied"))
    everything = desk.get("/desk/claims.csv")
    assert everything.status_code == 200
    assert everything.mimetype == "text/csv"
    assert everything.headers["Content-Disposition"].startswith('attachment; filename="claims-')
    assert everything.headers["Cache-Control"] == "no-store"
    table = rows(everything.get_data())
    assert list(table[0]) == list(COLUMNS)
    assert {r["claim_id"] for r in table} == {denied, other}
    only = rows(desk.get("/desk/claims.csv?status=denied").get_data())
    assert [r["claim_id"] for r in only] == [denied]
    row = only[0]
    assert row["statement"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"
    assert row["claimant"] == "'@Khamenei"
    assert row["tags"] == "iran; isil"
    assert row["first_outlet"] == "'-Fars News"
    assert row["status"] == "denied"
    assert row["denials"] == "1"
    assert row["desk_url"] == f"http://localhost/desk/claims/{denied}"
    rated = rows(desk.get("/desk/claims.csv?tag=zarif").get_data())[0]
    assert rated["verdict"]
    assert rated["verdict_scale"] == VERDICT["scale"]
    bad = desk.get("/desk/claims.csv?updated_after=yesterday")
    assert bad.status_code == 422


def test_the_csv_export_reads_page_after_page_and_stops_at_its_bound(
    tmp_path: Path, views_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewed = viewed_api(tmp_path, views_server)
    api, desk = viewed.api, Desk(viewed.api)
    claims = [api.new_claim(statement=f"Claim number {n}.") for n in range(5)]
    viewed.project()
    desk.sign_in("reader")
    monkeypatch.setattr(exports, "CSV_PAGE", 2)
    whole = rows(desk.get("/desk/claims.csv").get_data())
    assert sorted(r["claim_id"] for r in whole) == sorted(claims)
    monkeypatch.setattr(exports, "CSV_MAX_ROWS", 3)
    cut = rows(desk.get("/desk/claims.csv").get_data())
    assert len(cut) == 4
    assert cut[-1]["claim_id"] == "(more)"
    assert "stops at 3 claims" in cut[-1]["statement"]


def test_the_csv_export_says_when_the_views_cannot_answer(tmp_path: Path) -> None:
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path)  # its Redis is a closed port
    desk = Desk(api)
    desk.sign_in("reader")
    down = desk.get("/desk/claims.csv")
    assert down.status_code == 503
    assert int(down.headers["Retry-After"]) >= 1


def test_the_printable_record_shows_every_entry_its_hashes_and_what_was_verified(
    tmp_path: Path,
) -> None:
    key = tmp_path / "signing.key"
    cp.load_or_create_signing_key(key)
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path, SIGNING_KEY=key,
                            LOG_ORIGIN="claimledger.local/log", CHECKPOINT_INTERVAL=0)
    desk = Desk(api)
    claim_id = api.new_claim()
    api.post(f"/v1/claims/{claim_id}/denials", DENIAL)
    api.post(f"/v1/claims/{claim_id}/verdicts", VERDICT)
    service = LogService.open(api.store, key, "claimledger.local/log")
    service.issue()
    assert desk.get(f"/desk/claims/{claim_id}/record").status_code == 302
    desk.sign_in("reader")
    page = text(desk.get(f"/desk/claims/{claim_id}"))
    assert f'href="/desk/claims/{claim_id}/record"' in page
    html = text(desk.get(f"/desk/claims/{claim_id}/record"))
    assert 'href="/desk/static/print.css" media="print"' in html
    assert "<strong>Verified</strong>" in html
    events = api.store.read_claim(claim_id)
    for event in events:
        assert event.leaf_hash in html
        assert event.payload_sha256 in html
        assert event.id in html
    assert "<strong>payload hash</strong> recomputed" in html
    assert "— 3 of 3" in html  # payload, leaf and chain checks, each for every event
    assert "<strong>inclusion proof</strong> checked against that checkpoint" in html
    assert service.verifier_key in html
    assert "claimledger.local/log\n3\n" in html  # the signed note itself
    assert f"--claim {claim_id}" in html
    assert desk.get("/desk/claims/00000000-0000-4000-8000-000000000000/record").status_code == 404


def test_a_record_of_a_log_without_a_checkpoint_says_inclusion_was_not_checked(
    tmp_path: Path,
) -> None:
    api = ApiHarness.create(tmp_path, DATA_DIR=tmp_path)
    desk = Desk(api)
    claim_id = api.new_claim()
    desk.sign_in("reader")
    html = text(desk.get(f"/desk/claims/{claim_id}/record"))
    assert "<strong>Verified</strong>" in html
    assert "inclusion in the log was <strong>not</strong> checked" in html
