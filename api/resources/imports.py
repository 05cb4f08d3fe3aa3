"""Bulk imports: an NDJSON body, read as a stream, appended in one all-or-nothing transaction."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from typing import IO, cast

from flask import Response, request
from flask.views import MethodView

from ledger.envelope import RecordedEvent
from ledger.errors import ClaimNotFound, MalformedLine, ValidationFailed
from ledger.importing import ImportPlan, plan_import, refused_append
from ledger.store import Idempotency

from ..appending import REPLAYED_HEADER, after_append, request_fingerprint, request_metadata
from ..auth import principal, requires
from ..errors import Problem
from ..parsing import Blueprint, idempotency_key
from ..responses import json_response
from ..schemas import ImportResultSchema, WriteHeadersSchema
from ..state import ledger_state

blp = Blueprint("imports", __name__, url_prefix="/v1/imports", description="Bulk imports")

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson")
_LINE_DOC = (
    "One JSON object per line: `{claim_ref?, claim_id?, event_ref?, target_ref?,"
    " related_claim_ref?, type, data, occurred_at?}`. A `ClaimRecorded` line with"
    " `claim_ref` lets later lines name that claim by `claim_ref`; `event_ref`/`target_ref`"
    " let an `EntryCorrected` target an earlier line's event."
)


class LineReader:
    """The body's lines, bounded in length, hashed as they are read."""

    def __init__(self, stream: IO[bytes], max_line: int) -> None:
        self.stream = stream
        self.max_line = max_line
        self.sha256 = hashlib.sha256()
        self.number = 0

    def __iter__(self) -> Iterator[str]:
        while True:
            raw = self.stream.readline(self.max_line + 1)
            if not raw:
                return
            self.number += 1
            self.sha256.update(raw)
            if len(raw) > self.max_line and not raw.endswith(b"\n"):
                raise Problem(
                    422,
                    "The import has a line that is too long; nothing was written.",
                    slug="validation-failed",
                    errors={f"lines.{self.number}": [f"Longer than {self.max_line} bytes."]},
                )
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Problem(
                    400, f"Line {self.number} is not valid UTF-8.", slug="malformed-ndjson"
                ) from None


@blp.route("")
class Imports(MethodView):
    """``/v1/imports``."""

    @requires("editor")
    @blp.arguments(WriteHeadersSchema(), location="headers")
    @blp.doc(
        requestBody={
            "required": True,
            "description": _LINE_DOC,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    )
    @blp.response(201, ImportResultSchema)
    def post(self, headers: dict[str, str]) -> Response:
        """Append an NDJSON file of events, all or nothing (If-Match does not apply)."""
        if request.mimetype not in NDJSON_TYPES:
            raise Problem(
                415,
                "Send the import as application/x-ndjson, one JSON object per line.",
                slug="unsupported-media-type",
                headers={"Accept-Post": "application/x-ndjson"},
            )
        state = ledger_state()
        settings = state.settings
        request.max_content_length = settings.max_import_bytes
        key = idempotency_key(headers.get("idempotency_key"))
        stream = io.BufferedReader(cast(io.RawIOBase, request.stream), 1 << 16)
        reader = LineReader(stream, settings.max_body_bytes)
        try:
            plan = plan_import(
                reader,
                scales=state.store.scales,
                metadata={**request_metadata(key), "source": "api-import"},
                max_events=settings.max_import_events,
            )
        except MalformedLine as exc:  # duplicate keys, too deep, huge numbers, a BOM…
            raise Problem(
                400, f"Line {exc.line} is not valid JSON: {exc.reason}.", slug="malformed-ndjson"
            ) from None
        except ValueError as exc:
            raise Problem(
                400, f"Line {reader.number} is not valid JSON: {exc}", slug="malformed-ndjson"
            ) from None
        idempotency = None
        if key is not None:
            idempotency = Idempotency(key, request_fingerprint(reader.sha256.hexdigest()))
        try:
            events = state.store.append(
                plan.events, actor=principal().actor, idempotency=idempotency
            )
        except (ValidationFailed, ClaimNotFound) as exc:
            raise refused_append(exc, plan.events) from None
        replayed = events[0].id != plan.events[0].id
        claims = _original_claims(plan, events) if replayed else plan.claims
        if not replayed:
            after_append(events)
        body = {
            "count": len(events),
            "first_position": events[0].position,
            "last_position": events[-1].position,
            "claims": claims,
        }
        return json_response(body, 201, {REPLAYED_HEADER: "true"} if replayed else None)


def _original_claims(plan: ImportPlan, original: Sequence[RecordedEvent]) -> dict[str, str]:
    """For a replayed import: each ``claim_ref`` mapped to the claim the first run created."""
    line_of_claim = {
        e.claim_id: e.metadata.get("import_line") for e in plan.events if e.type == "ClaimRecorded"
    }
    claim_at_line = {
        e.metadata.get("import_line"): e.claim_id for e in original if e.type == "ClaimRecorded"
    }
    return {ref: claim_at_line.get(line_of_claim.get(cid), cid) for ref, cid in plan.claims.items()}
