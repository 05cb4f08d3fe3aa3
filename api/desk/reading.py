"""The desk's reading pages: the claim list, a claim page, its history, its changes and
its live feed."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from werkzeug.wrappers import Response as BaseResponse

from ledger.timeutil import normalize_time
from workers.views import InvalidQuery, ViewsBehind, ViewsUnavailable

from ..errors import Problem, problem_response
from ..resources.stream import last_event_id, sse_response
from ..schemas import STATUSES
from ..state import ledger_state
from ..view_service import view_service
from .claimpage import HISTORY_PAGE, changes, claim_page
from .dates import DateError, compose
from .forms import (
    FORMS_BY_KIND,
    LINK_CHOICES,
    FormSpec,
    FormState,
    desk_forms,
    form_time,
    options_for,
)
from .linking import claim_links, find_claims
from .listing import FILTERS, PAGE_SIZE, ClaimPage, list_claims, verified_history
from .pages import error_page, for_followers, for_readers, new_key, page
from .timeline import details, legend_icon, summary

VERDICT_VALUE = next(f for f in FORMS_BY_KIND["verdicts"].fields if f.name == "value")


# --- reading ------------------------------------------------------------------------------
def requested_filters() -> dict[str, str]:
    """The list's filters in this request's query string (trimmed; empty ones left out)."""
    return {k: v.strip() for k in FILTERS if (v := request.args.get(k, "")).strip()}


def claims_or_error(filters: dict[str, str], *, cursor: str | None = None,
                    limit: int = PAGE_SIZE, also: str = "") -> ClaimPage | Response:
    """A page of the claim list, or the error page saying why the views cannot give it
    (``also``: a sentence added to the 503's message)."""
    try:
        return list_claims(filters, cursor=cursor, limit=limit)
    except ViewsUnavailable:
        response = error_page(503, "The list is unavailable", "The claim list is read from"
                              " the views, which are being built or cannot be reached; try"
                              " again shortly." + also)
        response.headers["Retry-After"] = str(view_service().retry_after())
        return response
    except InvalidQuery as exc:
        return error_page(422, "Not a valid filter", f"{exc}.")


@for_readers
def claim_list() -> BaseResponse:
    """Claims with their status and verdict, filtered like ``GET /v1/claims``."""
    store = ledger_state().store
    filters = requested_filters()
    found = claims_or_error(filters, cursor=request.args.get("cursor") or None,
                            also=" Each claim's own page still works.")
    if isinstance(found, Response):
        return found
    verdicts = options_for(VERDICT_VALUE, scales=store.scales, targets=())
    return page("list.html", page=found, filters=filters, statuses=STATUSES, verdicts=verdicts)


def _as_of(name: str = "as_of") -> tuple[str | None, str | None, str]:
    """The page's ``as_of`` or ``valid_at`` (canonical), an error about it, and the text
    as typed (RFC 3339, else a date and time as the forms read them, in UTC)."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None, None, ""
    try:
        return normalize_time(form_time(raw)), None, raw
    except ValueError:
        pass
    try:
        moment = compose(raw, "", "UTC")
    except DateError as exc:
        return None, f"{exc} Or give an RFC 3339 time such as 2014-09-16T00:00:00Z.", raw
    return (moment.rfc3339 if moment else None), None, raw


def story_dates(state: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The story's own days, suggested in the forms' date boxes: the claim's first
    appearance and the day it was made."""
    if not state:
        return []
    found: list[tuple[str, str]] = []
    first = state.get("first_appearance") or {}
    when = first.get("published_at") or first.get("occurred_at")
    if when:
        found.append((str(when)[:10], f"first appearance ({first.get('outlet') or ''})"))
    return found


def _fresh_forms(specs: tuple[FormSpec, ...]) -> dict[str, FormState]:
    return {spec.kind: FormState() for spec in specs}


def claim_page_response(claim_id: str, failed: tuple[str, FormState] | None = None,
                        status: int = 200) -> Response:
    """A claim's page (``failed``: the form refused, shown again with its messages)."""
    store = ledger_state().store
    as_of, as_of_error, as_of_text = _as_of()
    valid_at, valid_at_error, valid_at_text = _as_of("valid_at")
    upto = request.args.get("upto", type=int)
    shown = claim_page(store, claim_id, upto=upto, as_of=as_of, valid_at=valid_at)
    replaying = as_of or valid_at
    specs = desk_forms().page
    forms = _fresh_forms(specs)
    if failed is not None:
        forms[failed[0]] = failed[1]
    link_query = request.args.get("link_q", "").strip()[:200]
    found, link_error = [], None
    if link_query and as_of is None:
        try:
            found = find_claims(link_query, claim_id)
        except (ViewsUnavailable, ViewsBehind):
            link_error = "The search reads the claim list, which cannot answer just now."
    return page(
        "claim.html", status,
        claim_id=claim_id, page=shown, state=shown.state, events=shown.events,
        voided=shown.voided, by_id=shown.by_id, corrected=shown.corrected, as_of=replaying,
        as_of_time=as_of, valid_at=valid_at, valid_at_error=valid_at_error,
        valid_at_text=valid_at_text,
        as_of_error=as_of_error, as_of_text=as_of_text, timeline=shown.timeline,
        styles=desk_forms().styles, legend_icon=legend_icon,
        specs=specs if not replaying else (), forms=forms,
        open_form=failed[0] if failed else None,
        options=lambda item: options_for(item, scales=store.scales, targets=()),
        new_key=new_key, head=store.head(),
        total=shown.total if not replaying else store.claim_version(claim_id),
        summary=summary, details=details, failed_kind=failed[0] if failed else None,
        story_dates=story_dates(shown.state),
        links=claim_links(store, claim_id, shown.state), link_query=link_query, found=found,
        link_error=link_error, link_choices=LINK_CHOICES,
    )


@for_readers
def claim(claim_id: Any) -> BaseResponse:
    """A claim: state, timeline, entries and forms; ``as_of`` replays it."""
    return claim_page_response(str(claim_id))


@for_readers
def history(claim_id: Any) -> BaseResponse:
    """A page of a claim's events with their hashes, verified with the auditor's verifier."""
    state = ledger_state()
    shown = verified_history(state.store, state.settings, str(claim_id),
                             request.args.get("upto", type=int), HISTORY_PAGE)
    first, last, total = shown.events[0].version, shown.events[-1].version, shown.total
    return page("history.html", claim_id=str(claim_id), events=shown.events, state=shown.state,
                verification=shown.verification, proofs=shown.proofs, styles=desk_forms().styles,
                total=total, older=first - 1 if first > 1 else None,
                newer=min(last + HISTORY_PAGE, total) if last < total else None,
                voided=shown.voided)


@for_followers
def claim_changes(claim_id: Any) -> BaseResponse:
    """What a live claim page adds: the entries after version ``after`` and the state."""
    after = request.args.get("after", type=int)
    if after is None or not 0 <= after < 2**63:
        return Response("after must be a version (0 or more).\n", 400, mimetype="text/plain")
    shown = changes(ledger_state().store, str(claim_id), after)
    return page("changes.html", claim_id=str(claim_id), page=shown, state=shown.state,
                events=shown.events, voided=shown.voided, by_id=shown.by_id,
                corrected=shown.corrected, as_of=None, styles=desk_forms().styles,
                legend_icon=legend_icon,
                summary=summary, details=details)


@for_followers
def live(claim_id: Any) -> BaseResponse:
    """The claim's new events as Server-Sent Events (what keeps its page live)."""
    try:
        return sse_response(last_event_id(request.args.get("after")), claim_id=str(claim_id))
    except Problem as problem:  # a bad position or too many streams: a problem, not a page
        return problem_response(problem.code or 400, problem.description, slug=problem.slug,
                                headers=problem.headers)
