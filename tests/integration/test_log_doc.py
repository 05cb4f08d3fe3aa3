"""docs/auditing.md: its hand-check code runs and agrees with the ledger and the RFC vectors."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import checkpoint as cp
from ledger.log import LogService
from ledger.store import EventStore
from tests.support.ledger_log import grow, new_store, story

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "auditing.md"
VECTORS = ROOT / "tests" / "unit" / "vectors" / "rfc9162"


@pytest.fixture(scope="module")
def guide() -> dict[str, Any]:
    """The namespace the guide's Python blocks define, run in order."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 2
    namespace: dict[str, Any] = {"__name__": "auditing_guide"}
    for block in blocks:
        exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with new_store("sqlite", tmp_path) as (store, _):
        yield store


def _vectors(kind: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((VECTORS / kind).rglob("*.json"))]


def test_the_guides_code_uses_nothing_but_the_standard_library(guide: dict[str, Any]) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL):
        imported = set(re.findall(r"^(?:import|from) (\w+)", block, re.MULTILINE))
        assert imported <= {"base64", "hashlib", "json"}, imported


def test_the_guides_checks_agree_with_the_ledger(guide: dict[str, Any], store: EventStore) -> None:
    log = LogService(store, cp.generate_signing_key(), "ledger.example.org/log")
    claims = story(3)
    grow([store], 21, claims)
    old = log.issue()
    grow([store], 12, claims, seed=3)
    history = log.history(claims[1])
    for event in history["events"]:
        assert guide["check_event"](event, event["inclusion_proof"], history["checkpoint"])
        forged = {**event, "actor": "mallory"}
        assert not guide["check_event"](forged, event["inclusion_proof"], history["checkpoint"])
    new = log.issue()
    proof = log.consistency(old.size, new.size)["proof"]
    assert guide["check_growth"](old.note, new.note, proof)
    assert not guide["check_growth"](old.note, new.note, proof[1:])
    assert guide["checkpoint_root"](new.note) == (new.size, new.root)


def test_the_guides_verifiers_give_the_rfc_vectors_answers(guide: dict[str, Any]) -> None:
    def b64(value: str | None) -> bytes:
        return base64.b64decode(value or "")

    for case in _vectors("inclusion"):
        proof = [b64(p) for p in case["proof"] or []]
        ok = guide["verify_inclusion"](b64(case["leafHash"]), case["leafIdx"], case["treeSize"],
                                       proof, b64(case["root"]))
        assert ok is not case["wantErr"], case["desc"]
    for case in _vectors("consistency"):
        proof = [b64(p) for p in case["proof"] or []]
        ok = guide["verify_consistency"](case["size1"], case["size2"], b64(case["root1"]),
                                         b64(case["root2"]), proof)
        assert ok is not case["wantErr"], case["desc"]
