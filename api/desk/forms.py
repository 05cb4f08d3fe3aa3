"""The desk's forms: one per event type, turned into the API's JSON bodies.

A form only reshapes what was typed (dotted field names become nested objects, tags
become a list, blank fields are left out); validation is the API's own: the body is
loaded with the same ``api.schemas`` schema the JSON endpoint uses and appended with
``api.writing.append_event``, and the messages come back keyed by the same field
paths, so they can be shown beside the fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema

from ledger import jsontext
from ledger.events import CORRECTION_KINDS
from ledger.scales import Scales

from .. import schemas

_NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?")
#: what the desk says about times typed without a zone
TIME_HINT = "RFC 3339, e.g. 2014-09-15T14:00:00Z; a time without a zone is taken as UTC."


@dataclass(frozen=True)
class Field:
    """One form field; ``name`` is its path in the API body (``by.name``)."""

    name: str
    label: str
    kind: str = "text"  # text, textarea, url, time, select
    required: bool = False
    hint: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    def dom_id(self, form: str) -> str:
        """The element id of this field in ``form``."""
        return f"{form}-{self.name.replace('.', '-').replace('_', '-')}"


@dataclass(frozen=True)
class FormSpec:
    """A form that appends one event type."""

    kind: str  # the URL segment, as in the API: denials, corroborations, …
    event_type: str
    title: str
    submit: str
    fields: tuple[Field, ...]
    schema: type[Schema]


def _agent(prefix: str, label: str, required: bool = True) -> tuple[Field, ...]:
    return (
        Field(f"{prefix}.name", f"{label}: name", required=required),
        Field(f"{prefix}.same_as", f"{label}: identifier URI", "url",
              hint="Optional, e.g. a Wikidata item: https://www.wikidata.org/wiki/Q9684"),
    )


def _appearance(required: bool) -> tuple[Field, ...]:
    where = "Appearance" if required else "Appearance (optional)"
    return (
        Field("appearance.outlet", f"{where}: outlet", required=required),
        Field("appearance.url", f"{where}: URL", "url"),
        Field("appearance.published_at", f"{where}: published at", "time", hint=TIME_HINT),
        Field("appearance.quote", f"{where}: quote", "textarea"),
    )


OCCURRED = Field("occurred_at", "Occurred at", "time",
                 hint="When it happened in the world; empty means now. " + TIME_HINT)
_RESPONSE = (
    *_appearance(False),
    Field("note", "Note", "textarea"),
    Field("related_claim_id", "Related claim id", hint="Optional: a claim this one bears on."),
    OCCURRED,
)

NEW_CLAIM = FormSpec(
    "claims", "ClaimRecorded", "Record a claim", "Record claim",
    (
        Field("statement", "Statement", "textarea", required=True),
        *_agent("claimant", "Claimant"),
        *_appearance(True),
        Field("language", "Language", hint="A language tag such as en or fa."),
        Field("tags", "Tags", hint="Comma-separated, e.g. iran, isil."),
        OCCURRED,
    ),
    schemas.NewClaimSchema,
)

ENTRY_FORMS: tuple[FormSpec, ...] = (
    FormSpec("denials", "ClaimDenied", "Add a denial", "Record denial",
             (*_agent("by", "Denied by"), *_RESPONSE), schemas.NewDenialSchema),
    FormSpec("corroborations", "ClaimCorroborated", "Add a corroboration", "Record corroboration",
             (*_agent("by", "Corroborated by"), *_RESPONSE), schemas.NewCorroborationSchema),
    FormSpec("appearances", "AppearanceAdded", "Add an appearance", "Record appearance",
             (*_appearance(True), OCCURRED), schemas.NewAppearanceSchema),
    FormSpec("verdicts", "VerdictIssued", "Issue a verdict", "Issue verdict",
             (Field("scale", "Scale", "select", required=True),
              Field("value", "Verdict", "select", required=True),
              Field("explanation", "Explanation", "textarea", required=True),
              *_agent("reviewer", "Reviewer", required=False), OCCURRED),
             schemas.NewVerdictSchema),
    FormSpec("retractions", "ClaimRetracted", "Record a retraction", "Record retraction",
             (*_agent("by", "Retracted by"), *_appearance(False), Field("note", "Note", "textarea"),
              OCCURRED), schemas.NewRetractionSchema),
    FormSpec("corrections", "EntryCorrected", "Correct or void an entry", "Record correction",
             (Field("target_event_id", "Entry: its version or event id", required=True,
                    hint="The entry's version, e.g. 12 or v12; each entry's “Correct or"
                    " void” link fills it in."),
              Field("kind", "Kind", "select", required=True,
                    options=tuple((k, k.capitalize()) for k in CORRECTION_KINDS)),
              Field("changes", "Changes (JSON object)", "textarea",
                    hint='Only for a correction: the payload fields to change, e.g.'
                    ' {"note": "…"}.'),
              Field("reason", "Reason", "textarea", required=True), OCCURRED),
             schemas.NewCorrectionSchema),
    FormSpec("notes", "NoteAdded", "Add an internal note", "Add note",
             (Field("text", "Note", "textarea", required=True), OCCURRED), schemas.NewNoteSchema),
)
FORMS_BY_KIND = {spec.kind: spec for spec in ENTRY_FORMS}


@dataclass
class FormState:
    """What a rendered form shows: the values typed and the messages by field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


class FormInputError(ValueError):
    """The form cannot even be turned into a body (e.g. changes that are not JSON)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("the form could not be read")
        self.errors = errors


def form_time(value: str) -> str:
    """A time as typed, with ``Z`` added when it has no zone."""
    if _NAIVE_TIME.fullmatch(value):
        value = value.replace(" ", "T")
        return value + ("Z" if value.count(":") >= 2 else ":00Z")
    return value


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    node = body
    *parents, last = path.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[last] = value


def body_from_form(spec: FormSpec, form: Mapping[str, str]) -> dict[str, Any]:
    """The API body a form stands for; blank fields are left out."""
    body: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for item in spec.fields:
        raw = form.get(item.name, "")
        value = raw.replace("\r\n", "\n").strip()
        if value == "":
            continue
        if item.kind == "time":
            _put(body, item.name, form_time(value))
        elif item.name == "tags":
            _put(body, item.name, [t.strip() for t in value.split(",") if t.strip()])
        elif item.name == "changes":
            try:
                _put(body, item.name, jsontext.loads(value))
            except jsontext.JSONTextError:  # not JSON, duplicate keys, nested too deep…
                errors[item.name] = ['Write the changes as a JSON object, e.g. {"note": "…"}.']
        else:
            _put(body, item.name, value)
    if errors:
        raise FormInputError(errors)
    return body


def place_errors(spec: FormSpec, messages: Mapping[str, Sequence[str]]) -> FormState:
    """Messages keyed by body path, put beside the field they concern (else on the form)."""
    state = FormState()
    names = sorted((f.name for f in spec.fields), key=len, reverse=True)
    for path, texts in messages.items():
        target = next((n for n in names if path == n or path.startswith(n + ".")), None)
        if target is None:
            # an object left out entirely (a missing agent or appearance) names its parent
            target = next((f.name for f in spec.fields if f.name.startswith(path + ".")), None)
        if target is None:
            prefix = "" if path in ("body", "") else f"{path}: "
            state.general.extend(prefix + str(t) for t in texts)
        else:
            state.errors.setdefault(target, []).extend(str(t) for t in texts)
    return state


def options_for(item: Field, *, scales: Scales, targets: Sequence[tuple[str, str]]) -> list[
    tuple[str, str]
]:
    """The choices of a select field (scales and verdicts come from the store's scales)."""
    if item.options:
        return list(item.options)
    if item.name == "scale":
        return [(name, name) for name in sorted(scales)]
    if item.name == "value":
        seen: dict[str, str] = {}
        for name in sorted(scales):
            for value in scales[name].values:
                label = value.label if len(scales) == 1 else f"{value.label} ({name})"
                seen.setdefault(value.value, label)
        return list(seen.items())
    if item.name == "target_event_id":
        return list(targets)
    return []
