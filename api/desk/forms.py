"""The desk's forms: one per event type, turned into the API's JSON bodies.

The entries' forms come from the app's entry kinds (``api.entry_kinds``); the claim's
own form is here.

A form only reshapes what was typed (dotted field names become nested objects, tags
become a list, blank fields are left out); validation is the API's own: the body is
loaded with the same ``api.schemas`` schema the JSON endpoint uses and appended with
``api.appending.append_event``, and the messages come back keyed by the same field
paths, so they can be shown beside the fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from marshmallow import Schema

from ledger import jsontext
from ledger.scales import Scales

from .. import schemas
from ..entry_kinds import (
    ENTRY_KINDS,
    OCCURRED,
    EntryKind,
    agent_fields,
    appearance_fields,
    current_kinds,
)
from ..entry_kinds import LINK_CHOICES as LINK_CHOICES
from ..entry_kinds import Field as Field
from .dates import EXAMPLE, DateError, compose
from .timeline import RECORDED, Style

_NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?")
#: the suffix of a time field's time-of-day input, and the form's time zone input
CLOCK = ":time"
ZONE = "tz"
#: app.extensions key of the app's ``DeskForms``
_FORMS = "desk.forms"


@dataclass(frozen=True)
class FormSpec:
    """A form that appends one event type."""

    kind: str  # the URL segment, as in the API: denials, corroborations, …
    event_type: str
    title: str
    submit: str
    fields: tuple[Field, ...]
    schema: type[Schema]
    noun: str = "entry"  # what the form records, in words: "the denial"


NEW_CLAIM = FormSpec(
    "claims", "ClaimRecorded", "Record a claim", "Record claim",
    (
        Field("statement", "Statement", "textarea", required=True,
              ask="Give the statement: the claim in the claimant's words."),
        *agent_fields("claimant", "Claimant", "who made the claim"),
        *appearance_fields(True),
        Field("language", "Language", hint="A language tag such as en or fa.",
              ask="Give a language tag such as en or fa, or leave it empty."),
        Field("tags", "Tags", hint="Comma-separated, lowercase, e.g. iran, isil."),
        OCCURRED,
    ),
    schemas.NewClaimSchema, "claim",
)


@dataclass(frozen=True)
class DeskForms:
    """The forms of an app's entry kinds: those on the claim page (in their order), and
    by kind and by event type those whose entries the desk appends and corrects; and
    ``styles``, how the desk draws and names each event type (in the legend's order)."""

    page: tuple[FormSpec, ...]
    by_kind: dict[str, FormSpec]
    by_type: dict[str, FormSpec]
    styles: dict[str, Style]

    @classmethod
    def of(cls, kinds: Sequence[EntryKind]) -> DeskForms:
        """The forms of ``kinds``."""
        forms = [(k, FormSpec(k.kind, k.event_type, k.title, k.submit, k.fields, k.schema,
                              k.noun)) for k in kinds if k.correctable]
        page = sorted(((k.page, f) for k, f in forms if k.page is not None),
                      key=lambda pair: pair[0])
        styles = sorted(((k.event_type, k.desk_style) for k in kinds),
                        key=lambda pair: pair[1].legend)
        return cls(tuple(f for _, f in page), {f.kind: f for _, f in forms},
                   {NEW_CLAIM.event_type: NEW_CLAIM, **{f.event_type: f for _, f in forms}},
                   {NEW_CLAIM.event_type: RECORDED, **dict(styles)})


def desk_forms() -> DeskForms:
    """The current app's forms (made once per app from its entry kinds)."""
    extensions = current_app.extensions
    forms: DeskForms | None = extensions.get(_FORMS)
    if forms is None:
        forms = extensions[_FORMS] = DeskForms.of(current_kinds())
    return forms


_STANDARD = DeskForms.of(ENTRY_KINDS)
#: the standard kinds' forms (an app's own: ``desk_forms()``)
ENTRY_FORMS = _STANDARD.page
FORMS_BY_KIND = _STANDARD.by_kind
FORMS_BY_TYPE = _STANDARD.by_type


@dataclass
class FormState:
    """What a rendered form shows: the values typed, the messages by field, and the
    dates to confirm (``confirm``: the warnings, ``token``: what confirms them)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    confirm: list[str] = field(default_factory=list)
    token: str = ""
    read_as: dict[str, str] = field(default_factory=dict)


def form_time(value: str) -> str:
    """A time as typed, with ``Z`` added when it has no zone (the replay boxes)."""
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


def split_tags(value: str) -> list[str]:
    """Tags as typed, comma-separated."""
    return [t.strip() for t in value.split(",") if t.strip()]


@dataclass
class ReadForm:
    """A form read into an API body, with what the desk could not read and how it read
    each date."""

    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    read_as: dict[str, str] = field(default_factory=dict)


def body_from_form(spec: FormSpec, form: Mapping[str, str]) -> ReadForm:
    """The API body a form stands for; blank fields are left out, text of only spaces is
    refused, and dates are read in the form's time zone."""
    read = ReadForm()
    zone = form.get(ZONE, "")
    for item in spec.fields:
        raw = form.get(item.name, "")
        value = raw.replace("\r\n", "\n").strip()
        if item.kind == "time":
            try:
                moment = compose(value, form.get(item.name + CLOCK, ""), zone)
            except DateError as exc:
                read.errors[item.name] = [f"{exc} {ask(spec, item)}"]
                continue
            if moment is not None:
                _put(read.body, item.name, moment.rfc3339)
                read.read_as[item.name] = moment.shown
            continue
        if value == "":
            if raw and not item.required:
                read.errors[item.name] = [
                    "This has only spaces: write something or leave it empty."]
            continue
        if item.name == "tags":
            _put(read.body, item.name, split_tags(value))
        elif item.name == "changes":
            try:
                _put(read.body, item.name, jsontext.loads(value))
            except jsontext.JSONTextError:  # not JSON, duplicate keys, nested too deep…
                read.errors[item.name] = [
                    'Write the changes as a JSON object, e.g. {"note": "…"}.']
        else:
            _put(read.body, item.name, value)
    return read


def ask(spec: FormSpec, item: Field) -> str:
    """What the desk asks for when ``item`` is missing or not understood."""
    if item.ask:
        return item.ask
    if item.kind == "time":
        return f"Give the date the {spec.noun} was made, e.g. {EXAMPLE}."
    return f"Give the {item.label.lower()}."


_MISSING = ("Missing data for required field.", "Field may not be null.", "Must not be blank.",
            "Shorter than minimum length 1.")


def plain(spec: FormSpec, item: Field, path: str, message: str, values: Mapping[str, str]
          ) -> str:
    """A validator's message about ``path`` in the words of the desk."""
    if message in _MISSING:
        return ask(spec, item)
    if item.name == "tags" and path.startswith("tags."):
        tags = split_tags(values.get("tags", ""))
        index = int(path.split(".")[1]) if path.split(".")[1].isdigit() else -1
        tag = tags[index] if 0 <= index < len(tags) else ""
        return (f"Tag “{tag}”: {message} E.g. “{tag.lower().replace(' ', '-')}”."
                if "lowercase" in message else f"Tag “{tag}”: {message}")
    if item.kind == "time":
        detail = message.rstrip(".")
        return f"{ask(spec, item)} ({detail[0].lower()}{detail[1:]}.)"
    if item.kind == "url" or message in ("Not a valid URL.", "Not a valid UUID."):
        return f"{ask(spec, item)} ({message})"
    return message


def place_errors(spec: FormSpec, messages: Mapping[str, Sequence[str]],
                 values: Mapping[str, str] | None = None) -> FormState:
    """Messages keyed by body path, in plain words beside the field they concern (else on
    the form)."""
    state = FormState()
    names = sorted((f.name for f in spec.fields), key=len, reverse=True)
    by_name = {f.name: f for f in spec.fields}
    for path, texts in messages.items():
        target = next((n for n in names if path == n or path.startswith(n + ".")), None)
        if target is None:
            # an object left out entirely (a missing agent or appearance) names its parent
            target = next((f.name for f in spec.fields
                           if f.name.startswith(path + ".") and f.required), None)
        if target is None:
            prefix = "" if path in ("body", "") else f"{path}: "
            state.general.extend(prefix + str(t) for t in texts)
            continue
        said = state.errors.setdefault(target, [])
        for text in texts:
            words = plain(spec, by_name[target], path, str(text), values or {})
            if words not in said:
                said.append(words)
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
