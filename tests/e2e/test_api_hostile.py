"""The hostile-input catalogue against a real server: every case gets the right 4xx problem
body (never HTML, never a traceback) and writes nothing."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from tests.support.api_harness import DENIAL, HOSTILE_BODIES, HOSTILE_FIELDS, body
from tests.support.server import Server

PROBLEM = "application/problem+json"


@pytest.fixture
def editor(server: Server) -> Any:
    with server.client("editor") as client:
        yield client


def check_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert "Traceback" not in response.text
    return problem


@pytest.mark.parametrize(
    ("name", "data", "content_type", "status"),
    HOSTILE_BODIES,
    ids=[b[0] for b in HOSTILE_BODIES],
)
def test_hostile_bodies(
    server: Server, claim: str, editor: httpx.Client, name: str, data: bytes,
    content_type: str, status: int,
) -> None:
    head = server.head()
    headers = {"Content-Type": content_type} if content_type else {}
    response = editor.post(f"/v1/claims/{claim}/denials", content=data, headers=headers)
    check_problem(response, status)
    assert server.head() == head


@pytest.mark.parametrize(
    ("name", "payload", "paths"), HOSTILE_FIELDS, ids=[f[0] for f in HOSTILE_FIELDS]
)
def test_invalid_fields(
    server: Server, claim: str, editor: httpx.Client, name: str, payload: Any,
    paths: tuple[str, ...],
) -> None:
    head = server.head()
    text = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:  # a lone surrogate as raw bytes is not UTF-8: malformed JSON
        raw = editor.post(
            f"/v1/claims/{claim}/denials", content=text,
            headers={"Content-Type": "application/json"},
        )
        assert check_problem(raw, 400)["type"].endswith("/malformed-json")
        text = json.dumps(payload).encode("ascii")  # the same value as a JSON escape
    response = editor.post(
        f"/v1/claims/{claim}/denials", content=text, headers={"Content-Type": "application/json"}
    )
    problem = check_problem(response, 422)
    assert set(paths) <= set(problem["errors"])
    assert server.head() == head


def test_a_5_mb_body_is_413(server: Server, claim: str, editor: httpx.Client) -> None:
    head = server.head()
    big = json.dumps(body(DENIAL, note="x" * (5 * 1024 * 1024)))
    response = editor.post(
        f"/v1/claims/{claim}/denials", content=big, headers={"Content-Type": "application/json"}
    )
    check_problem(response, 413)
    assert server.head() == head


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-Match": "garbage"}, 400),
        ({"If-Match": '"1", "2"'}, 400),
        ({"If-Match": 'W/"1"'}, 412),
        ({"If-Match": '"9999"'}, 412),
        ({"Idempotency-Key": "k" * 10_000}, 400),
        ({"Idempotency-Key": "k" * 201}, 400),
    ],
    ids=["garbage If-Match", "two versions", "weak tag", "stale version", "10,000-char key",
         "201-char key"],
)
def test_bad_write_headers(
    server: Server, claim: str, editor: httpx.Client, headers: dict[str, str], status: int
) -> None:
    head = server.head()
    check_problem(editor.post(f"/v1/claims/{claim}/denials", json=DENIAL, headers=headers), status)
    assert server.head() == head


def raw_request(server: Server, request: bytes) -> tuple[int, str, bytes]:
    """Send bytes as they are (no client normalises the path); status, content type, body."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return int(lines[0].split()[1]), content_type, payload


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/v1/claims/../../etc/passwd", 404),
        ("/v1/claims/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/v1/claims/..%2f..%2fetc%2fpasswd", 404),
        ("//v1/claims/not-a-uuid", 404),
        ("/v1/claims/not-a-uuid", 404),
        ("/v1/claims/%00", 404),
        ("/v1/claims/%ff%fe", 404),
        ("/v1/claims/" + "a" * 9000, 414),
        ("/v1/claims/01a21b98-2a8d-796e-8b54-f88b67019bd7/../../../../etc/passwd", 404),
    ],
)
def test_path_tricks_are_problems(server: Server, target: str, status: int) -> None:
    token = server.tokens["admin"]
    request = (
        f"GET {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    got, content_type, payload = raw_request(server, request)
    assert (got, content_type) == (status, PROBLEM)
    assert json.loads(payload)["status"] == status


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400),
    ],
    ids=["not HTTP", "unknown version", "header over the limit", "invalid header name"],
)
def test_malformed_http_is_answered_as_a_problem(
    server: Server, request_bytes: bytes, status: int
) -> None:
    got, content_type, payload = raw_request(server, request_bytes)
    assert content_type == PROBLEM
    assert got >= 400
    assert b"<html" not in payload.lower()


def test_no_token_ever_reaches_the_server_log(server: Server, claim: str) -> None:
    with server.client("admin") as admin:
        admin.get(f"/v1/claims/{claim}")
        admin.get("/v1/claims/not-a-uuid")
    log = server.log.read_text()
    for token in server.tokens.values():
        assert token not in log
    assert "Traceback" not in log
