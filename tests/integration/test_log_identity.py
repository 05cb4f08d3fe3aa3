"""One signing identity per log: ``init``/``serve``/``checkpoint`` refuse another key or
origin, ``rotate-key`` records the change, and ``audit`` follows only recorded changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from api import cli as cli_module
from ledger import checkpoint as cp
from ledger.audit import audit
from ledger.identity import IdentityError, key_label
from ledger.log import LogService
from ledger.store import EventStore
from ledger.store.tree import StoredCheckpoint
from tests.support.ledger_log import BACKENDS, grow, new_store, raw, story, unguard

ORIGIN = "ledger.example.org/log"


@dataclass
class Host:
    """One host's settings over a shared log: its own key file and origin."""

    url: str
    directory: Path
    origin: str = ORIGIN

    @property
    def key_path(self) -> Path:
        return self.directory / "signing.key"

    def run(self, *args: str) -> Result:
        cli_module._register()
        env = {
            "LEDGER_DATABASE_URL": self.url, "LEDGER_DATA_DIR": str(self.directory),
            "LEDGER_SIGNING_KEY": str(self.key_path), "LEDGER_LOG_ORIGIN": self.origin,
        }
        return CliRunner(env=env).invoke(cli_module.cli, list(args))

    def verifier_key(self) -> str:
        return cp.verifier_key(self.origin, cp.load_signing_key(self.key_path).public_key())


@dataclass
class Shared:
    store: EventStore
    url: str
    first: Host
    claims: list[str]

    def host(self, name: str, origin: str = ORIGIN) -> Host:
        return Host(self.url, self.first.directory.parent / name, origin)


@pytest.fixture(params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    with new_store(request.param, tmp_path) as (store, url):
        claims = story(3)
        grow([store], 12, claims)
        first = Host(url, tmp_path / "first")
        done = first.run("init")
        assert done.exit_code == 0, done.output
        yield Shared(store, url, first, claims)


def one_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_init_on_a_second_host_without_the_key_is_refused_and_creates_none(
    shared: Shared,
) -> None:
    second = shared.host("second")
    line = one_line(second.run("init"))
    assert key_label(shared.first.verifier_key()) in line
    assert "no signing key" in line
    assert str(second.key_path) in line
    assert not second.key_path.exists()
    assert audit(shared.store, shared.first.verifier_key(), origin=ORIGIN).ok


def test_another_key_is_refused_by_init_serve_and_checkpoint_naming_both_keys(
    shared: Shared,
) -> None:
    second = shared.host("second")
    second.directory.mkdir(mode=0o700)
    cp.save_signing_key(cp.generate_signing_key(), second.key_path)
    grow([shared.store], 3, shared.claims, seed=2)
    for command in (["init"], ["serve", "--port", "1"], ["checkpoint"]):
        line = one_line(second.run(*command))
        assert key_label(shared.first.verifier_key()) in line, command
        assert key_label(second.verifier_key()) in line, command
    assert shared.store.latest_checkpoint().size == 12  # type: ignore[union-attr]
    assert shared.first.run("checkpoint").exit_code == 0  # the log's own key signs on


def test_another_origin_is_refused(shared: Shared) -> None:
    elsewhere = Host(shared.url, shared.first.directory, "other.example/log")
    line = one_line(elsewhere.run("serve", "--port", "1"))
    assert "'ledger.example.org/log'" in line
    assert "'other.example/log'" in line


def test_a_recorded_rotation_is_followed_by_audit_and_refuses_the_old_key(
    shared: Shared,
) -> None:
    first = shared.first
    old_key = first.verifier_key()
    old_copy = first.directory / "old.key"
    old_copy.write_bytes(first.key_path.read_bytes())
    rotated = first.run("rotate-key")
    assert rotated.exit_code == 0, rotated.output + rotated.stderr
    new_key = first.verifier_key()
    assert new_key != old_key
    assert new_key in rotated.output
    [rotation] = shared.store.key_rotations()
    assert (rotation.size, rotation.old_key, rotation.new_key) == (12, old_key, new_key)
    assert (first.directory / f"signing.key.retired-{old_key.split('+')[1]}").exists()
    assert not (first.directory / "signing.key.next").exists()
    # the head's checkpoint keeps the old key's signature: both pins pass
    for pinned in (old_key, new_key):
        report = audit(shared.store, pinned, origin=ORIGIN)
        assert report.ok, report.failure
        assert report.rotations == 1
    audited = first.run("audit", "--quiet")
    assert audited.exit_code == 0, audited.output + audited.stderr
    assert "1 recorded key rotations" in audited.output
    grow([shared.store], 4, shared.claims, seed=3)
    assert first.run("checkpoint").exit_code == 0  # size 16, signed by the new key
    for pinned in (old_key, new_key):
        assert audit(shared.store, pinned, origin=ORIGIN).ok
    # the old key is refused everywhere now, naming where it was rotated away
    stale = shared.host("stale")
    stale.directory.mkdir(mode=0o700)
    stale.key_path.write_bytes(old_copy.read_bytes())
    line = one_line(stale.run("serve", "--port", "1"))
    assert "rotated away at size 12" in line
    assert key_label(new_key) in line
    # and a process that started before the rotation stops signing
    running = LogService(shared.store, cp.load_signing_key(old_copy), ORIGIN)
    grow([shared.store], 1, shared.claims, seed=4)
    with pytest.raises(IdentityError, match="rotated to"):
        running.issue()


def test_an_unrecorded_key_change_fails_the_audit(shared: Shared) -> None:
    old_key = shared.first.verifier_key()
    assert shared.first.run("rotate-key").exit_code == 0
    grow([shared.store], 2, shared.claims, seed=5)
    intruder = cp.generate_signing_key()
    size = shared.store.head()  # signed and stored behind the checks' back
    root = shared.store.root(size)
    note = cp.sign_checkpoint(ORIGIN, size, root, intruder)
    shared.store.add_checkpoint(StoredCheckpoint(size, root, note, "2026-01-01T00:00:00.000000Z"))
    for pinned in (old_key, shared.first.verifier_key()):
        report = audit(shared.store, pinned, origin=ORIGIN)
        assert not report.ok
        assert "checkpoint of size 14" in str(report.failure)
    # a pin no rotation names is not rescued by the rotations either
    report = audit(shared.store, cp.verifier_key(ORIGIN, intruder.public_key()), origin=ORIGIN)
    assert not report.ok
    assert "is not one of the log's recorded keys" in str(report.failure)


def test_a_forged_rotation_record_fails_the_audit_and_the_start(shared: Shared) -> None:
    assert shared.first.run("rotate-key").exit_code == 0
    [rotation] = shared.store.key_rotations()
    impostor = cp.verifier_key(ORIGIN, cp.generate_signing_key().public_key())
    unguard(shared.url)
    raw(shared.url, f"UPDATE key_rotations SET new_key = '{impostor}'")
    report = audit(shared.store, rotation.old_key, origin=ORIGIN)
    assert not report.ok
    assert report.failure is not None
    assert report.failure.check == "rotation"
    line = one_line(shared.first.run("serve", "--port", "1"))
    assert "key rotation at size 12 does not hold" in line


def test_rotate_key_refuses_a_key_that_is_not_the_logs(shared: Shared) -> None:
    second = shared.host("second")
    second.directory.mkdir(mode=0o700)
    cp.save_signing_key(cp.generate_signing_key(), second.key_path)
    line = one_line(second.run("rotate-key"))
    assert key_label(shared.first.verifier_key()) in line
    assert shared.store.key_rotations() == []


def test_a_server_started_before_the_rotation_stops_signing_with_a_503(shared: Shared) -> None:
    from api import create_app

    app = create_app({"DATABASE_URL": shared.url, "SIGNING_KEY": shared.first.key_path,
                      "LOG_ORIGIN": ORIGIN, "PUBLIC_READ": True, "RATE_LIMIT": None,
                      "CHECKPOINT_INTERVAL": 0})
    client = app.test_client()
    assert client.get("/v1/log/checkpoint").status_code == 200  # its key loaded
    assert shared.first.run("rotate-key").exit_code == 0
    grow([shared.store], 2, shared.claims, seed=6)
    refused = client.get("/v1/log/checkpoint")
    assert refused.status_code == 503
    assert refused.get_json()["type"].endswith("/log-unavailable")
    assert shared.store.latest_checkpoint().size == 12  # type: ignore[union-attr]


@pytest.mark.parametrize("keep", ["signing.key", "./signing.key", "new.key"])
def test_rotate_key_refuses_to_keep_the_old_key_where_the_new_one_goes(
    shared: Shared, keep: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = shared.first
    monkeypatch.chdir(first.directory)
    before = first.key_path.read_bytes()
    line = one_line(first.run("rotate-key", "--new-key", "new.key", "--keep-old", keep))
    assert "keep the old key in another file" in line
    assert first.key_path.read_bytes() == before  # the log's key, untouched
    assert shared.store.key_rotations() == []
