"""Hypothesis over NDJSON imports, three ways in: ``plan_import`` itself, ``claimledger
import`` on a real SQLite file, and ``POST /v1/imports`` on a live server.

Properties: ``plan_import`` returns a plan or raises ``ValidationFailed`` (paths under
``lines``), nothing else; the CLI either imports the whole plan or says ``Error:``
(and one indented line per invalid line) and writes nothing; the API never answers 5xx,
and a rejected import writes nothing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from api.cli import _register, cli
from ledger.errors import MalformedLine, ValidationFailed
from ledger.importing import plan_import
from ledger.store import EventStore, open_store
from tests.hostile.mutations import SEED_LINES, ndjson_files
from tests.support.casecount import record
from tests.support.long import scaled
from tests.support.server import Server, start_server

PROBLEM = "application/problem+json"


def fuzz(short: int, long: int) -> settings:
    """Hypothesis settings for ``short`` examples (``long`` under scripts/test --long)."""
    return settings(
        max_examples=scaled(short, long), deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )


def plan_or_failure(body: bytes) -> int | None:
    """The number of events ``plan_import`` plans for ``body``, None when it is invalid."""
    try:
        return len(plan_import(io.BytesIO(body)).events)
    except MalformedLine:  # refused by the strict parser: duplicate keys, huge numbers…
        return None
    except ValidationFailed as exc:
        errors = exc.errors
    assert errors
    assert all(path.startswith("lines") for path in errors), errors
    return None


def names_a_claim_not_in(store: EventStore, body: bytes) -> bool:
    """Whether a planned event belongs to a claim neither the plan records nor the store holds."""
    plan = plan_import(io.BytesIO(body))
    recorded = {event.claim_id for event in plan.events if event.type == "ClaimRecorded"}
    return any(
        event.claim_id not in recorded and store.claim_version(event.claim_id) == 0
        for event in plan.events
    )


def test_the_example_data_set_plans_in_full() -> None:
    body = "\n".join(json.dumps(line) for line in SEED_LINES).encode()
    assert plan_or_failure(body) == len(SEED_LINES)


def test_an_undecodable_line_is_a_validation_failure_naming_it() -> None:
    body = b'{"type": "NoteAdded", "data": {"text": "caf\xe9"}}\n'
    with pytest.raises(ValidationFailed) as raised:
        plan_import(io.BytesIO(b"\n" + body))
    assert raised.value.errors["lines.2"][0].startswith("Not valid UTF-8 (byte 44).")


def test_a_5000_digit_number_is_a_malformed_line_without_python_s_hint() -> None:
    body = b'{"type": "NoteAdded", "data": {"text": ' + b"9" * 5000 + b"}}\n"
    with pytest.raises(MalformedLine) as raised:
        plan_import(io.BytesIO(b"\n" + body))
    assert raised.value.line == 2
    assert "a number of 5000 characters" in str(raised.value)
    assert "sys" not in str(raised.value)


@fuzz(300, 10_000)
@given(ndjson_files())
def test_plan_import_plans_or_raises_a_validation_failure(body: bytes) -> None:
    record("NDJSON import (plan_import)")
    plan_or_failure(body)


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, EventStore]]:
    """A real SQLite ledger for ``claimledger import``, and a store reading its head."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli-import') / 'ledger.db'}"
    _register()
    store = open_store(url)
    store.init()
    yield url, store
    store.close()


def test_the_cli_refuses_a_whole_import_that_names_a_claim_the_ledger_does_not_hold(
    cli_store: tuple[str, EventStore], tmp_path: Path
) -> None:
    url, store = cli_store
    note = next(dict(line) for line in SEED_LINES if line["type"] == "NoteAdded")
    del note["claim_ref"], note["event_ref"]
    note["claim_id"] = "00000000-0000-0000-0000-000000000000"
    path = tmp_path / "import.ndjson"
    path.write_text(f"{json.dumps(SEED_LINES[0])}\n{json.dumps(note)}\n", encoding="utf-8")
    head = store.head()
    assert plan_or_failure(path.read_bytes()) == 2  # a valid plan…
    assert names_a_claim_not_in(store, path.read_bytes())  # …that the ledger must refuse
    result = CliRunner().invoke(cli, ["--database-url", url, "import", str(path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: a line names a claim that does not exist; nothing was written (1 error):",
        "  line 2, claim_id: No such claim (00000000-0000-0000-0000-000000000000).",
    ]
    assert store.head() == head


@fuzz(25, 1000)
@given(body=ndjson_files())
def test_the_cli_imports_all_or_writes_nothing(
    body: bytes, cli_store: tuple[str, EventStore], tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, store = cli_store
    path = Path(tmp_path_factory.getbasetemp()) / "import.ndjson"
    path.write_bytes(body)
    head = store.head()
    result = CliRunner().invoke(cli, ["--database-url", url, "import", str(path)])
    record("NDJSON import (claimledger import)")
    planned = plan_or_failure(body)
    if planned is not None and names_a_claim_not_in(store, body):
        # a valid plan whose line names, by claim_id, a claim the ledger does not hold
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: a line names a claim that does not exist")
        assert result.output.splitlines()[1].startswith("  line ")  # the line, as the API's 422
        assert store.head() == head
    elif planned is None:
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ")
        # one line, or a summary line and one indented line per error
        assert all(line.startswith("  ") for line in result.output.splitlines()[1:])
        assert store.head() == head
    else:
        assert result.exit_code == 0, result.output
        assert store.head() == head + planned


@pytest.fixture(scope="module")
def small_limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose line and import limits are small enough for generated bodies to hit."""
    server = start_server(
        Path(tmp_path_factory.mktemp("import-fuzz")), workers=1,
        LEDGER_MAX_BODY_BYTES="16384", LEDGER_MAX_IMPORT_BYTES="65536",
    )
    yield server
    server.stop()


@fuzz(40, 2000)
@given(body=ndjson_files())
def test_the_api_never_fails_and_a_rejected_import_writes_nothing(
    body: bytes, small_limits_server: Server
) -> None:
    server = small_limits_server
    head = server.head()
    with server.client("editor") as editor:
        response = editor.post(
            "/v1/imports", content=body, headers={"Content-Type": "application/x-ndjson"}
        )
    record("NDJSON import (POST /v1/imports)")
    assert response.status_code in (201, 400, 413, 422), response.text[:500]
    if response.status_code == 201:
        assert server.head() == head + response.json()["count"]
        assert plan_or_failure(body) == response.json()["count"]
    else:
        assert response.headers["content-type"] == PROBLEM
        assert "Traceback" not in response.text
        assert server.head() == head


def test_a_hostile_import_over_http_gets_no_html(small_limits_server: Server) -> None:
    response = httpx.post(
        f"{small_limits_server.url}/v1/imports", content=b"\xff\n",
        headers={"Authorization": f"Bearer {small_limits_server.tokens['editor']}",
                 "Content-Type": "application/x-ndjson"},
    )
    assert (response.status_code, response.headers["content-type"]) == (400, PROBLEM)
