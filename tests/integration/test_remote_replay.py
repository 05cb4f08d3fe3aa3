"""``verify_all`` against the real app (its test client standing in for the socket):
paging, resuming after a cut, growth between runs, a tampered database, the checks hook."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import checkpoint as cp
from ledger.remote import RemoteError, RemoteLog, RemoteReport
from ledger.remote_replay import SavedReplay, read_saved, verify_all, write_saved
from ledger.replay import ReplayState
from tests.support.api_harness import ApiHarness
from tests.support.ledger_log import BACKENDS, database, grow, raw, story, unguard

ORIGIN = "ledger.example.org/log"


class AppLog(RemoteLog):
    """A ``RemoteLog`` whose GETs go to the app's test client; the events after position
    ``cut`` cannot be reached."""

    def __init__(self, api: ApiHarness, cut: int | None = None) -> None:
        super().__init__("http://ledger.test")
        self.api, self.cut = api, cut

    def _get(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        if path == "/v1/events" and self.cut is not None and (params or {})["after"] >= self.cut:
            raise RemoteError(f"GET {path}: cannot reach {self.url}: connection reset")
        query = "?" + urllib.parse.urlencode(params) if params else ""
        response = self.api.get(path + query, role="auditor")
        if response.status_code != 200:
            raise RemoteError(f"GET {path}: HTTP {response.status_code}")
        return response.get_data()


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiHarness]:
    key = tmp_path / "signing.key"
    cp.load_or_create_signing_key(key)
    with database(request.param, tmp_path) as url:
        api = ApiHarness.create(tmp_path, DATABASE_URL=url, SIGNING_KEY=key, LOG_ORIGIN=ORIGIN,
                                CHECKPOINT_INTERVAL=0)
        api.app.config["TEST_DATABASE_URL"] = url
        yield api
        api.store.close()


def verifier(api: ApiHarness) -> str:
    key: str = api.get("/v1/log/key", role="auditor").get_json()["verifier_key"]
    return key


def test_every_page_size_replays_the_whole_log_to_the_signed_root(api: ApiHarness) -> None:
    grow([api.store], 40, story(4))
    for page in (1, 7, 1000):
        report = verify_all(AppLog(api), verifier(api), page=page)
        assert report.result.ok, report.result.summary()
        assert (report.events, report.result.checks["root"]) == (40, 1)
        assert report.counts() == "checked: 40 events, 0 proofs, 1 checkpoints"


def test_a_cut_replay_saves_its_progress_and_the_next_run_goes_on(
    api: ApiHarness, tmp_path: Path
) -> None:
    grow([api.store], 30, story(3))
    state = tmp_path / "auditor.json"
    with pytest.raises(RemoteError, match="connection reset"):
        verify_all(AppLog(api, cut=20), verifier(api), state=state, page=10)
    saved = read_saved(state)
    assert saved.note is None  # nothing verified against a signed root yet
    assert saved.replay is not None
    assert saved.replay.size == 20
    grow([api.store], 5, story(1), seed=2)
    report = verify_all(AppLog(api), verifier(api), state=state, page=10)
    assert report.result.ok, report.result.summary()
    assert report.events == 15
    assert "replay: going on from position 20 (saved state)" in report.lines
    again = verify_all(AppLog(api), verifier(api), state=state)
    assert again.result.ok
    assert again.events == 0
    assert again.counts() == "checked: 0 events, 0 proofs, 1 checkpoints"


def test_growth_between_runs_is_proved_consistent_and_only_new_events_replayed(
    api: ApiHarness, tmp_path: Path
) -> None:
    claims = story(3)
    grow([api.store], 12, claims)
    state = tmp_path / "auditor.json"
    assert verify_all(AppLog(api), verifier(api), state=state).result.ok
    grow([api.store], 9, claims, seed=3)
    report = verify_all(AppLog(api), verifier(api), state=state)
    assert report.result.ok, report.result.summary()
    assert report.counts() == "checked: 9 events, 1 proofs, 1 checkpoints"
    assert "consistency: the saved checkpoint (size 12) is a prefix of size 21" in report.lines


def test_a_payload_edited_in_the_database_is_named_at_its_position(api: ApiHarness) -> None:
    grow([api.store], 10, story(2))
    url = api.app.config["TEST_DATABASE_URL"]
    unguard(url)
    [(text,)] = raw(url, "SELECT data FROM payloads WHERE position = 1")
    edited = json.dumps({**json.loads(text), "statement": "Nobody asked."})
    raw(url, "UPDATE payloads SET data = '{}' WHERE position = 1".format(edited.replace("'", "''")))
    report = verify_all(AppLog(api), verifier(api), page=3)
    first = report.result.first_failure
    assert first is not None
    assert (first.position, first.check) == (1, "payload")
    assert str(first).startswith("position 1: payload check failed")


def test_a_saved_replay_longer_than_the_signed_log_fails(api: ApiHarness, tmp_path: Path) -> None:
    grow([api.store], 4, story(1))
    state = tmp_path / "auditor.json"
    write_saved(state, SavedReplay(None, ReplayState(size=64, edge=[bytes(32)])))
    report = verify_all(AppLog(api), verifier(api), state=state)
    first = report.result.first_failure
    assert first is not None
    assert first.check == "consistency"
    assert "covers 64 events" in first.message


def test_the_checkpoint_checks_see_the_verified_note(api: ApiHarness) -> None:
    grow([api.store], 3, story(1))
    seen: list[str] = []

    def witness(log: RemoteLog, note: str, report: RemoteReport) -> None:
        seen.append(note)
        report.result.fail("checkpoint", None, "no cosignature by the required witness")

    report = verify_all(AppLog(api), verifier(api), checkpoint_checks=[witness])
    assert len(seen) == 1
    assert cp.open_checkpoint(seen[0], verifier(api)).size == 3
    assert report.result.first_failure is not None
    assert "witness" in str(report.result.first_failure)


class ShortPages(AppLog):
    """A server whose pages hold at most 3 events, whatever the limit asked."""

    def events(self, after: int, limit: int) -> list[Any]:
        return super().events(after, min(limit, 3))


def test_pages_shorter_than_asked_are_followed_from_where_they_end(api: ApiHarness) -> None:
    grow([api.store], 25, story(2))
    report = verify_all(ShortPages(api), verifier(api), page=10)
    assert report.result.ok, report.result.summary()
    assert report.events == 25
