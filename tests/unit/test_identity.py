"""Key rotation notes and chains (ledger.identity): pure logic, any chain length."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import checkpoint as cp
from ledger.identity import IdentityError, RotationRecord, chain, follow, sign_rotation

ORIGIN = "ledger.example.org/log"


def rotations(count: int) -> tuple[list[str], list[RotationRecord]]:
    keys = [cp.generate_signing_key() for _ in range(count + 1)]
    records = []
    for i in range(count):
        size = 10 * (i + 1)
        root = hashlib.sha256(str(size).encode()).digest()
        old, new, note = sign_rotation(ORIGIN, size, root, keys[i], keys[i + 1])
        records.append(RotationRecord(size, old, new, note))
    return [cp.verifier_key(ORIGIN, k.public_key()) for k in keys], records


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.data())
def test_any_key_of_the_chain_follows_to_the_newest(count: int, data: st.DataObject) -> None:
    keys, records = rotations(count)
    assert chain(records) == keys
    start = data.draw(st.integers(0, count))
    followed = follow(keys[start], records)
    assert followed.key == keys[-1]
    assert len(followed.rotations) == count - start
    stranger = cp.verifier_key(ORIGIN, cp.generate_signing_key().public_key())
    assert follow(stranger, records).key == stranger  # an unrecorded key is not rescued


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_any_change_to_a_rotation_note_is_refused(data: st.DataObject) -> None:
    _, [record] = rotations(1)
    at = data.draw(st.integers(0, len(record.note) - 1))
    char = data.draw(st.sampled_from("0aZ+/=\n x"))
    changed = record.note[:at] + char + record.note[at + 1 :]
    if changed == record.note:
        return
    with pytest.raises(IdentityError):
        chain([replace(record, note=changed)])


def test_swapped_keys_a_gap_or_a_repeat_are_refused() -> None:
    keys, records = rotations(2)
    with pytest.raises(IdentityError, match=r"does not hold|does not name"):
        chain([replace(records[0], old_key=records[0].new_key, new_key=records[0].old_key)])
    with pytest.raises(IdentityError, match="starts from"):
        chain([records[0], records[0]])
    _, other = rotations(1)
    with pytest.raises(IdentityError, match="starts from"):
        chain([records[0], other[0]])
    assert chain([]) == []
    assert follow(keys[0], []).key == keys[0]
