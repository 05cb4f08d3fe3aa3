"""The OpenAPI document is byte-for-byte the one recorded in ``tests/golden/openapi.json``.

A refactor must leave the HTTP contract alone; a change that means to alter it rewrites the
golden file on purpose: ``python -m tests.integration.test_openapi_document`` and review the diff.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.support.api_harness import ApiHarness

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openapi.json"


def served_document(tmp_path: Path) -> bytes:
    """The bytes ``GET /openapi.json`` answers on a fresh ledger."""
    response = ApiHarness.create(tmp_path).client.get("/openapi.json")
    assert response.status_code == 200
    return response.data


def test_the_openapi_document_is_byte_identical_to_the_recorded_one(tmp_path: Path) -> None:
    served = served_document(tmp_path)
    assert served == GOLDEN.read_bytes(), (
        "GET /openapi.json changed; if that is meant, run"
        " `python -m tests.integration.test_openapi_document` and review the diff"
    )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        GOLDEN.write_bytes(served_document(Path(scratch)))
    print(f"wrote {GOLDEN}")
