"""Saved checkpoints survive a power loss right after they were saved: a verifier's, a witness's.

``claimledger verify --state`` remembers the last checkpoint it proved, so the next run
can prove the log consistent with it. Before the fix the state file was renamed into
place unsynced: a power loss took a new one away and brought an old one back, and the
next run would prove consistency only from that older checkpoint.
"""

from __future__ import annotations

import pytest

from api.witness_app import WitnessConfig, WitnessState, create_witness_app
from ledger import checkpoint as cp
from ledger.remote import read_state, save_state
from ledger.remote_replay import SavedReplay, read_saved, write_saved
from tests.powerloss.mount import PowerLossMount
from tests.support.witnessing import LOG_VKEY, ORIGIN, WITNESS, WITNESS_KEY, Log, request

KEY = cp.generate_signing_key()


def note(size: int) -> str:
    """A signed checkpoint note for ``size`` leaves."""
    return cp.sign_checkpoint("powerloss.example.org/log", size, bytes(32), KEY)


@pytest.mark.parametrize("earlier", [False, True], ids=["first", "replacing"])
def test_a_verify_state_saved_just_before_the_power_went_is_the_state_after_the_reboot(
    powerloss: PowerLossMount, earlier: bool
) -> None:
    path = powerloss.mountpoint / "verifier" / "state"
    if earlier:
        save_state(path, note(1))
        powerloss.sync()
    save_state(path, note(2))
    powerloss.crash()
    powerloss.reboot()
    assert read_state(path) == note(2)


@pytest.mark.parametrize("earlier", [False, True], ids=["first", "replacing"])
def test_a_verify_all_state_saved_just_before_the_power_went_is_the_state_after_the_reboot(
    powerloss: PowerLossMount, earlier: bool
) -> None:
    path = powerloss.mountpoint / "verifier" / "state.json"
    if earlier:
        write_saved(path, SavedReplay(note=note(1)))
        powerloss.sync()
    write_saved(path, SavedReplay(note=note(2)))
    powerloss.crash()
    powerloss.reboot()
    assert read_saved(path).note == note(2)


def test_a_witness_state_in_new_directories_keeps_its_cosigned_checkpoint_after_a_power_loss(
    powerloss: PowerLossMount,
) -> None:
    # before the fix the state's new directories were never synced into their parents:
    # after a power loss the witness forgot what it had cosigned and would cosign a fork
    path = powerloss.mountpoint / "witness" / "state" / "witness.db"
    log = Log(30)
    config = WitnessConfig(WITNESS, WITNESS_KEY, path, {ORIGIN: [LOG_VKEY]})
    client = create_witness_app(config).test_client()
    assert client.post("/add-checkpoint", data=request(0, [], log.note(20))).status_code == 200
    powerloss.crash()
    powerloss.reboot()
    seen = WitnessState(path).seen(ORIGIN)
    assert seen is not None
    assert seen.size == 20
