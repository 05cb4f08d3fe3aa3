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

from ledger.errors import ClaimNotFound
from workers.views import InvalidQuery, ViewsUnavailable

from ..state import ledger_state
from ..view_service import view_service
from .claimpage import current_state
from .listing import FILTERS, ClaimPage, list_claims, verify_claim
from .pages import error_page, for_readers, page
from .timeline import REDACTED, STYLES, details, summary

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
    filters = {k: v.strip() for k in FILTERS if (v := request.args.get(k, "")).strip()}
    try:
        first = list_claims(filters, limit=CSV_PAGE)
    except ViewsUnavailable:
        response = error_page(503, "The list is unavailable",
                              "The claim list is read from the views, which are being"
                              " built or cannot be reached; try again shortly.")
        response.headers["Retry-After"] = str(view_service().retry_after())
        return response
    except InvalidQuery as exc:
        return error_page(422, "Not a valid filter", f"{exc}.")
    base = ledger_state().settings.public_url or request.host_url.rstrip("/")
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
    state_ = ledger_state()
    store, claim = state_.store, str(claim_id)
    total = store.claim_version(claim)
    if not total:
        raise ClaimNotFound(claim)
    first = max(1, total - RECORD_MAX + 1)
    before = store.read_claim(claim, after=first - 2, limit=1) if first > 1 else []
    events = store.read_claim(claim, after=first - 1, limit=total - first + 1)
    verification, proofs = verify_claim(store, state_.settings, claim, events,
                                        start_leaf=before[0].leaf_hash if before else None)
    state = current_state(store, claim, total)
    base = state_.settings.public_url or request.host_url.rstrip("/")
    return page(
        "record.html", claim_id=claim, state=state, events=events, total=total,
        verification=verification, proofs=proofs, styles=STYLES, summary=summary,
        details=details, voided=set(state["voided_event_ids"]) if state else set(),
        printed_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), head=store.head(),
        page_url=base + url_for("desk.record", claim_id=claim),
    )
