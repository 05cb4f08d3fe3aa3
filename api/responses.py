"""JSON answers built straight from ledger objects (no second serialisation pass)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from flask import Response
from werkzeug.datastructures import Headers

from . import request_log

dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: the Content-Security-Policy of every answer but the /docs page
API_CSP = "default-src 'none'; frame-ancestors 'none'"
#: headers every answer gets unless its view set them: (lower-case name, name, value)
SECURITY_HEADERS = (
    ("x-content-type-options", "X-Content-Type-Options", "nosniff"),
    ("referrer-policy", "Referrer-Policy", "no-referrer"),
)


class Observer(Protocol):
    """What counts answered requests (``api.metrics.Metrics``)."""

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""


#: an answer's headers: werkzeug's (the app) or WSGI's list of pairs (the append lane)
HeaderList = Headers | list[tuple[str, str]]


def _put(headers: HeaderList, name: str, value: str) -> None:
    """Set ``name`` in place of its first occurrence, dropping any others."""
    if isinstance(headers, Headers):
        headers[name] = value
        return
    low = name.lower()
    at = next(i for i, (n, _) in enumerate(headers) if n.lower() == low)
    headers[at + 1:] = [(n, v) for n, v in headers[at + 1:] if n.lower() != low]
    headers[at] = (name, value)


def finish_response(
    headers: HeaderList,
    status: int,
    *,
    method: str,
    rule: str,
    path: str,
    request_id: str,
    actor: str,
    credentials: bool,
    started: float | None,
    metrics: Observer,
) -> None:
    """Finish every answer, the app's and the append lane's: the request id, security
    headers, CSP and cache control; then count it and log its line (if it was started).

    ``credentials``: the request carried a token or an Authorization header, so whatever
    answers it is never stored (errors too); anonymous reads under /v1/ and /tlog/ keep
    the caching their view chose.
    """
    present = {name.lower() for name, _ in headers}  # one pass instead of one per header
    added: list[tuple[str, str]] = []
    if "x-request-id" in present:
        _put(headers, "X-Request-Id", request_id)
    else:
        added.append(("X-Request-Id", request_id))
    added.extend((name, value) for low, name, value in SECURITY_HEADERS if low not in present)
    if "content-security-policy" not in present:
        added.append(("Content-Security-Policy", API_CSP))
    if credentials or not path.startswith(("/v1/", "/tlog/")):
        if "cache-control" in present:
            _put(headers, "Cache-Control", "no-store")
        else:
            added.append(("Cache-Control", "no-store"))
    elif "cache-control" not in present:
        added.append(("Cache-Control", "no-cache"))
    if isinstance(headers, Headers):
        for name, value in added:
            headers.add(name, value)
    else:
        headers.extend(added)
    if started is not None:
        seconds = time.perf_counter() - started
        metrics.observe(method, rule, status, seconds)
        request_log.log_request(
            method=method, route=rule, path=path, status=status, seconds=seconds,
            actor=actor, request_id=request_id,
        )


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response; ``body`` is already the documented shape."""
    return json_text_response(dumps(body), status, headers, mimetype)


def json_text_response(
    text: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    mimetype: str = "application/json",
) -> Response:
    """A JSON response whose body is already JSON text."""
    response = Response(text, status=status, mimetype=mimetype)
    if headers:
        for name, value in headers.items():
            response.headers[name] = value
    return response


def etag(version: int, redactions: int = 0) -> str:
    """The ``ETag`` of a claim (its state and its history) at ``version``.

    A redaction changes what a claim's answers hold without a new version, so a claim
    with ``K`` redacted payloads is tagged ``"N-rK"``: a cached copy holding the text
    no longer matches. ``If-Match`` accepts either form as naming version ``N``.
    """
    return f'"{version}-r{redactions}"' if redactions else f'"{version}"'


def state_etag(state: Mapping[str, Any]) -> str:
    """The ``ETag`` of a folded claim state.

    Other claims' links to it (``linked_from``) change the answer without a new version
    of the claim, so they add ``-l`` and a digest of their event ids.
    """
    tag = etag(int(state["version"]), len(state.get("redacted_event_ids") or ()))
    return linked_etag(tag, state.get("linked_from") or ())


def linked_etag(tag: str, inbound: Sequence[Mapping[str, Any]]) -> str:
    """A claim's ``etag`` with other claims' links to it (``linked_from``) folded in: the
    views' answer and the log's carry the same tag for the same state."""
    if not inbound:
        return tag
    ids = ",".join(sorted(str(link["event_id"]) for link in inbound))
    return f'{tag[:-1]}-l{hashlib.sha256(ids.encode("ascii")).hexdigest()[:12]}"'


#: how every stored envelope text ends unless it was redacted (``redaction`` comes last)
_LEAF_TAIL = len('"leaf_hash":"') + 64 + len('"}')


def envelopes_etag(envelopes: Sequence[tuple[int, str]]) -> str:
    """The ``ETag`` of a history given as ``read_claim_json``'s envelope texts."""
    redacted = sum(
        1 for _, text in envelopes if not text[-_LEAF_TAIL:].startswith('"leaf_hash":"')
    )
    return etag(envelopes[-1][0], redacted)
