"""What an editor takes away from the desk: the filtered claim list as CSV, and a claim's
printable record (state, every entry with its hashes, and what was verified).

The CSV streams page by page from the views, as the list does, up to ``CSV_MAX_ROWS``
rows; every cell a spreadsheet could take for a formula (starting ``= + - @``, tab or
carriage return, also after leading blanks or in full width) is prefixed with ``'``, as
OWASP's "CSV Injection" page advises. The record verifies the events it prints with the
auditor's verifier, like the history page.
"""

from __future__ import annotations

import csv
import io
import logging
import unicodedata
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Response, request, stream_with_context, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..state import ledger_state
from .forms import desk_forms
from .listing import ClaimPage, list_claims, verified_history
from .pages import for_readers, page
from .reading import claims_or_error, requested_filters
from .timeline import REDACTED, details, summary

log = logging.getLogger("api.desk")

#: rows in one CSV export at most (a note row says when more matched)
CSV_MAX_ROWS = 10_000
#: claims read from the views per page of the export
CSV_PAGE = 200
#: entries on one printable record at most (the newest; older ones are on history pages)
RECORD_MAX = 500
COLUMNS = (
    "claim_id", "statement", "claimant", "status", "verdict", "verdict_scale",
    "corroborations", "denials", "appearances", "tags", "first_outlet",
    "first_published_at", "version", "created_at", "updated_at", "desk_url",
)
#: what a spreadsheet reads as the start of a formula (OWASP, CSV Injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: the same signs in full width, which some spreadsheets (and IMEs) take as the ASCII ones
WIDE_FORMULA_START = ("\uff1d", "\uff0b", "\uff0d", "\uff20")


def _lead(text: str) -> str:
    """The text from its first visible character: spreadsheets may trim the spaces, line
    breaks and invisible format characters (zero-width space, BOM, bidi marks) before it."""
    for index, char in enumerate(text):
        if not (char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs")):
            return text[index:]
    return ""


def safe_cell(value: object) -> str:
    """A cell's text, with ``'`` in front when a spreadsheet would evaluate it: when it
    starts with a formula sign, or with blanks (spaces, line breaks, invisible characters)
    before one, or with a tab or carriage return."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) or _lead(text).startswith(
            FORMULA_START + WIDE_FORMULA_START):
        return "'" + text
    return text


def csv_row(claim: Mapping[str, Any], desk_url: str) -> list[str]:
    """One claim summary (from the views) as a row of ``COLUMNS``."""
    verdict = claim.get("verdict") or {}
    counts = claim.get("counts") or {}
    first = claim.get("first_appearance") or {}
    claimant = claim.get("claimant") or {}
    statement = claim.get("statement")
    values = [
        claim.get("id"), REDACTED if statement is None and claim.get("id") else statement,
        claimant.get("name"), claim.get("status"), verdict.get("label"), verdict.get("scale"),
        counts.get("corroborations", 0), counts.get("denials", 0), counts.get("appearances", 0),
        "; ".join(str(t) for t in claim.get("tags") or ()), first.get("outlet"),
        first.get("published_at"), claim.get("version"), claim.get("created_at"),
        claim.get("updated_at"), desk_url,
    ]
    return [safe_cell(v) for v in values]


def _line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerow(row)
    return out.getvalue()


def csv_lines(first: ClaimPage, filters: Mapping[str, str], base: str) -> Iterator[str]:
    """The export: a byte-order mark (so spreadsheets read UTF-8), the header, a row per
    claim page by page, and a note row when ``CSV_MAX_ROWS`` cut it short."""
    yield "\ufeff" + _line(list(COLUMNS))
    page, count = first, 0
    while True:
        for claim in page.items:
            if count == CSV_MAX_ROWS:
                yield _line([safe_cell("(more)"), safe_cell(
                    f"The export stops at {CSV_MAX_ROWS:,} claims; narrow the filters"
                    " (e.g. updated_after) to export the rest.")])
                return
            yield _line(csv_row(claim, f"{base}/desk/claims/{claim.get('id')}"))
            count += 1
        if not page.next_cursor:
            return
        page = list_claims(filters, cursor=page.next_cursor, limit=CSV_PAGE)


@for_readers
def claims_csv() -> BaseResponse:
    """The claim list, filtered as on the list page, as a CSV download."""
    filters = requested_filters()
    first = claims_or_error(filters, limit=CSV_PAGE)
    if isinstance(first, Response):
        return first
    base = _base_url()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    body = stream_with_context(csv_lines(first, filters, base))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="claims-{stamp}.csv"',
        "X-Content-Type-Options": "nosniff",
    })


@for_readers
def record(claim_id: Any) -> BaseResponse:
    """A claim's printable record: its state, its entries (the newest ``RECORD_MAX``) with
    their hashes, and the verification of those entries against the signed checkpoint."""
    state, claim = ledger_state(), str(claim_id)
    shown = verified_history(state.store, state.settings, claim, None, RECORD_MAX)
    return page(
        "record.html", claim_id=claim, state=shown.state, events=shown.events,
        total=shown.total, verification=shown.verification, proofs=shown.proofs,
        styles=desk_forms().styles, summary=summary, details=details, voided=shown.voided,
        printed_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), head=state.store.head(),
        page_url=_base_url() + url_for("desk.record", claim_id=claim),
    )


def _base_url() -> str:
    """Where the desk is served, for links that leave it (``LEDGER_PUBLIC_URL``, else this
    request's host)."""
    return ledger_state().settings.public_url or request.host_url.rstrip("/")
