"""schemathesis against a live server with every role's token: no 5xx, every answer conforms
to the OpenAPI document (status, content type, headers, body schema), a role without the
operation's role is refused, and no rejected request moves the log's head.

The document is built from the code at collection time, so pytest gets one test per
operation and role (schemathesis's lazy fixture loader does not work with pytest 9), and a
test checks that the live server serves exactly that document at /openapi.json. The
server is this module's own, so rebuilds started by the admin cases disturb nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.credentials import ROLE_GRANTS, ROLES
from ledger.store import EventStore
from tests.support.api_harness import CLAIM
from tests.support.casecount import record
from tests.support.long import scaled
from tests.support.routes import Route, build_app, routes
from tests.support.server import Server, serving_with_views

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: examples per operation and role: the editor reaches the write handlers, so it gets most
EXAMPLES = {
    "editor": scaled(12, 100),
    "admin": scaled(6, 50),
    "reader": scaled(5, 40),
    "auditor": scaled(5, 40),
}
#: a role without the operation's role is refused before its input is read: a few suffice
REFUSED_EXAMPLES = scaled(2, 10)
#: a live stream stays open LEDGER_STREAM_MAX_SECONDS (1 s here), so it gets a few examples
STREAM_EXAMPLES = scaled(2, 5)

schemathesis.serializer.alias("application/x-ndjson", "text/plain")

APP = build_app()
DOCUMENT: dict[str, Any] = APP.test_client().get("/openapi.json").get_json()
ROLE_OF = {(r.method, r.path): r for r in routes(APP)}
schema = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's own server with Redis and a worker (streams end after 1 s)."""
    with serving_with_views(
        Path(tmp_path_factory.mktemp("schemathesis")), LEDGER_STREAM_MAX_SECONDS="1"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def claim_id(server: Server) -> str:
    with server.client("editor") as editor:
        claim: str = editor.post("/v1/claims", json=CLAIM).json()["claim_id"]
    return claim


@pytest.fixture(scope="module")
def store(server: Server) -> Iterator[EventStore]:
    """The server's store, opened once to read the head around every case."""
    opened = server.store()
    yield opened
    opened.close()


def test_the_server_serves_this_document(server: Server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == DOCUMENT


def test_every_operation_of_the_document_is_tried() -> None:
    documented = {(op.method.upper(), op.path) for op in OPERATIONS}
    assert documented == {
        key for key, r in ROLE_OF.items() if r.path.startswith(("/v1/", "/tlog/"))
    } | {
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_every_answer_conforms_and_no_rejected_request_writes(
    operation: Any, role: str, server: Server, claim_id: str, store: EventStore
) -> None:
    route: Route = ROLE_OF[(operation.method.upper(), operation.path)]
    allowed = route.role is None or route.role in ROLE_GRANTS[role]
    examples = EXAMPLES[role] if allowed else REFUSED_EXAMPLES
    if operation.path == "/v1/events/stream" and allowed:
        examples = min(examples, STREAM_EXAMPLES)
    statuses: list[int] = []

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        if "claim_id" in (case.path_parameters or {}):
            case.path_parameters["claim_id"] = claim_id  # an existing claim reaches the handlers
        head = store.head()
        response = case.call_and_validate(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.tokens[role]}"},
            checks=CHECKS,
        )
        record(f"schemathesis ({role})")
        statuses.append(response.status_code)
        after = store.head()
        if not allowed:
            assert response.status_code == 403, response.text[:300]
        if route.writes and response.status_code == 201:
            assert after > head
        else:
            assert after == head, f"{response.status_code} moved the head {head} -> {after}"

    run()
    assert statuses
