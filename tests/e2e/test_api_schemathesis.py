"""schemathesis against a live server with an editor token: no 5xx, and every answer conforms
to the OpenAPI document (status, content type, headers, body schema).

The document is built from the code at collection time, so pytest gets one test per
operation (schemathesis's lazy fixture loader does not work with pytest 9), and a test
checks that the live server serves exactly that document at /openapi.json.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import create_app
from tests.e2e.conftest import Server
from tests.integration.test_api_support import CLAIM

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: examples per operation: enough to find shape errors, few enough to keep the suite fast
EXAMPLES = 25

schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@pytest.fixture(scope="module")
def claim_id(server: Server) -> str:
    with server.client("editor") as editor:
        claim: str = editor.post("/v1/claims", json=CLAIM).json()["claim_id"]
    return claim


def _document() -> dict[str, Any]:
    app = create_app({"DATABASE_URL": "sqlite:///:memory:", "TESTING": True})
    document: dict[str, Any] = app.test_client().get("/openapi.json").get_json()
    return document


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_server_serves_this_document(server: Server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms_to_the_openapi_document(
    case: Any, server: Server, claim_id: str
) -> None:
    if "claim_id" in (case.path_parameters or {}):
        case.path_parameters["claim_id"] = claim_id  # a claim that exists, to reach the handlers
    case.call_and_validate(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.tokens['editor']}"},
        checks=CHECKS,
    )
