"""Corrections as forms: the entry shown by what it says, a pre-filled copy of its fields
to edit, and the ``changes`` object computed by the desk (never typed as JSON).

``GET /desk/claims/{id}/entries/{event}/correct`` shows the entry and the form; posting
it records an ``EntryCorrected`` through the API's write path: a correction carries the
top-level fields the editor changed, a clarification or a void only the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flask import redirect, request, url_for
from marshmallow import ValidationError
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as BaseResponse

from ledger.envelope import RecordedEvent
from ledger.errors import ValidationFailed
from ledger.events import CORRECTION_KINDS
from ledger.fold import corrections, current_data
from ledger.timeutil import parse_time

from ..entry_kinds import KINDS_BY_TYPE
from ..errors import flatten
from ..state import ledger_state
from . import session as desk_session
from .forms import (
    CLOCK,
    ZONE,
    Field,
    FormSpec,
    FormState,
    ask,
    body_from_form,
    desk_forms,
    options_for,
    place_errors,
)
from .pages import append_from_form, for_editors, new_key, page, refusal
from .timeline import details, summary

CORRECTION = FormSpec(
    "correct", "EntryCorrected", "Correct, clarify or void an entry", "Record",
    (Field("kind", "What to do", "select", required=True, ask="Choose what to do: correct,"
           " clarify or void the entry.",
           options=(("correction", "Correct it: change what it says (edit the copy below)"),
                    ("clarification", "Clarify it: add context, it stays as it is"),
                    ("void", "Void it: it should not count"))),
     Field("reason", "Reason", "textarea", required=True,
           ask="Give the reason, e.g. the outlet misquoted the minister.",
           hint="Shown with the entry, in its history and in the timeline.")),
    KINDS_BY_TYPE["EntryCorrected"].schema, "correction",
)
#: an entry's version as an editor types it: ``12`` or ``v12``
VERSION = re.compile(r"[vV]?([1-9][0-9]{0,17})")
_CANNOT_EMPTY = "A correction cannot empty this; void the entry and record it again instead."


def copy_spec(event_type: str) -> FormSpec:
    """The fields of an entry of ``event_type`` a correction may change (its payload)."""
    spec = desk_forms().by_type[event_type]
    fields = tuple(f for f in spec.fields if f.name != "occurred_at")
    return replace(spec, kind="correct", fields=fields)


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for name in path.split("."):
        node = node.get(name) if isinstance(node, Mapping) else None
    return node


def prefilled(spec: FormSpec, data: Mapping[str, Any]) -> dict[str, str]:
    """The form values of an entry's payload (its times in UTC)."""
    values: dict[str, str] = {ZONE: "UTC"}
    for item in spec.fields:
        value = _get(data, item.name)
        if value is None:
            continue
        if item.kind == "time":
            moment = parse_time(str(value))
            values[item.name] = moment.strftime("%Y-%m-%d")
            # a time input takes at most milliseconds; unedited, the time is kept exactly
            clock = moment.strftime("%H:%M:%S" if moment.second or moment.microsecond
                                    else "%H:%M")
            if moment.microsecond:
                clock += f".{moment.microsecond // 1000:03d}"
            values[item.name + CLOCK] = clock
        elif isinstance(value, list):
            values[item.name] = ", ".join(str(v) for v in value)
        else:
            values[item.name] = str(value)
    return values


def keep_unedited(spec: FormSpec, current: Mapping[str, Any], form: Mapping[str, str],
                  body: dict[str, Any]) -> None:
    """Put back in ``body`` the exact value of every field the editor left as the copy
    showed it: the copy shows times to the millisecond in UTC and text as a browser sends
    it back, which must not turn into changes nobody made."""
    shown = prefilled(spec, current)
    zone = form.get(ZONE, "").strip() or "UTC"
    for item in spec.fields:
        original = _get(current, item.name)
        if original is None:
            continue
        names = (item.name, item.name + CLOCK) if item.kind == "time" else (item.name,)
        if all(form.get(name, "").replace("\r\n", "\n").strip()
               == shown.get(name, "").replace("\r\n", "\n").strip() for name in names) and (
                item.kind != "time" or zone == shown[ZONE]):
            _set(body, item.name, original)


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    node = body
    *parents, last = path.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value


def changed(spec: FormSpec, current: Mapping[str, Any], edited: Mapping[str, Any]
            ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The top-level fields the copy changes, and the fields a correction cannot empty."""
    changes: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(current) | set(edited)):
        if key not in edited:
            for item in spec.fields:
                if (item.name == key or item.name.startswith(key + ".")) and _get(
                        current, item.name) is not None:
                    errors[item.name] = [ask(spec, item) if item.required else _CANNOT_EMPTY]
        elif edited[key] != current.get(key):
            changes[key] = edited[key]
    return changes, errors


def _target(claim_id: str, event_id: str) -> tuple[RecordedEvent, dict[str, Any], bool]:
    """The entry, its payload with the corrections so far, and whether it is voided."""
    store = ledger_state().store
    event = store.get_event(event_id)
    if event is None or event.claim_id != claim_id or event.type not in desk_forms().by_type:
        raise NotFound("There is no such entry in this claim to correct.")
    effects = corrections([event, *store.claim_corrections(claim_id)])
    return event, current_data(event, effects), event.id in effects.voided


def _render(claim_id: str, event: RecordedEvent, current: Mapping[str, Any], voided: bool,
            state: FormState, status: int = 200) -> BaseResponse:
    spec = copy_spec(event.type)
    store = ledger_state().store
    return page(
        "correct.html", status, claim_id=claim_id, entry=event, current=current,
        voided=voided, label=desk_forms().styles[event.type].label, about=summary(event),
        text=details(event), spec=CORRECTION, copy=spec, form=state,
        both=replace(CORRECTION, fields=CORRECTION.fields + spec.fields),
        options=lambda item: options_for(item, scales=store.scales, targets=()),
        key=new_key(), json=json,
    )


@for_editors
def pick_entry(claim_id: Any) -> BaseResponse:
    """The claim page's "entry to correct" box: a version (``12``, ``v12``) or event id."""
    typed = request.args.get("entry", "").strip()
    found = VERSION.fullmatch(typed)
    event_id = typed
    if found is not None:
        events = ledger_state().store.read_claim(str(claim_id), after=int(found.group(1)) - 1,
                                                 limit=1)
        event_id = events[0].id if events else ""
    if not event_id:
        raise NotFound(f"This claim has no entry {typed or '(none given)'}.")
    return redirect(url_for("desk.correct_form", claim_id=claim_id, event_id=event_id))


@for_editors
def correct_form(claim_id: Any, event_id: Any) -> BaseResponse:
    """An entry, and the form that corrects, clarifies or voids it."""
    event, current, voided = _target(str(claim_id), str(event_id))
    state = FormState(values=prefilled(copy_spec(event.type), current))
    return _render(str(claim_id), event, current, voided, state)


@for_editors
def correct(claim_id: Any, event_id: Any) -> BaseResponse:
    """Record the correction, clarification or void; the form again when it is refused."""
    event, current, voided = _target(str(claim_id), str(event_id))
    spec = copy_spec(event.type)
    form = dict(request.form.items())
    values = {k: v for k, v in form.items() if k not in ("csrf_token", "idempotency_key")}
    kind = form.get("kind", "")
    state = FormState(values=values)
    body: dict[str, Any] = {"target_event_id": event.id, "kind": kind}
    if form.get("reason", "").strip():
        body["reason"] = form["reason"].replace("\r\n", "\n").strip()
    if kind == "correction":
        read = body_from_form(spec, form)
        keep_unedited(spec, current, form, read.body)
        changes, emptied = changed(spec, current, read.body)
        state.errors.update({**read.errors, **emptied})
        if not changes and not state.errors:
            state.general.append("Nothing in the copy was changed: change what is wrong in"
                                 " it, or choose to clarify or void the entry.")
        body["changes"] = changes
    elif kind not in CORRECTION_KINDS:
        state.errors["kind"] = [CORRECTION.fields[0].ask]
    if "reason" not in body:
        state.errors["reason"] = [CORRECTION.fields[1].ask]
    if not (state.errors or state.general):
        outcome = _record(spec, str(claim_id), body, values)
        if not isinstance(outcome, FormState):
            label = {"correction": "Correction", "clarification": "Clarification",
                     "void": "Void"}[kind]
            desk_session.notify(f"{label} of v{event.version} recorded as version"
                                f" {outcome['version']}.")
            target = url_for("desk.claim", claim_id=claim_id, _anchor=f"event-{outcome['id']}")
            return redirect(target, 303)  # its zone (UTC, as the copy is shown) is not remembered
        state = outcome
    return _render(str(claim_id), event, current, voided, state, 422)


def _record(spec: FormSpec, claim_id: str, body: dict[str, Any], values: dict[str, str]
            ) -> dict[str, Any] | FormState:
    """Append the ``EntryCorrected``; its messages placed beside the copy's fields."""
    try:
        return append_from_form("EntryCorrected", claim_id, CORRECTION.schema().load(body))
    except ValidationError as exc:
        messages = flatten(exc.messages)
    except ValidationFailed as exc:
        messages = refusal(exc)
    both = replace(CORRECTION, fields=CORRECTION.fields + spec.fields)
    mapped = {path.removeprefix("changes."): texts for path, texts in messages.items()}
    state = place_errors(both, mapped, values)
    state.values = values
    return state
