"""The registry of entry kinds: each entry a claim can be given, said once.

One ``EntryKind`` line names the URL segment, the event type and its ledger payload
schema, the role, the operation's summary, the desk's form (title, button, fields) and
how the desk draws and names its entries (``style``).
From these lines come the API's routes (``api.resources.entries``), their request
schemas (``api.schemas.body_schema``), the desk's forms (``api.desk.forms``), the
append lane's routes (``api.fastlane``) and docs/api.md's table of entries
(``python -m api.entry_kinds``); the fold's rule for the event type is in
``ledger.fold.RULES``. An app is built with ``ENTRY_KINDS`` unless its config names
others (``create_app({"ENTRY_KINDS": (...)})``), so a test's extra kind stays in its app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from flask import Flask, current_app
from marshmallow import Schema

from ledger import events

from .desk.dates import EXAMPLE
from .desk.timeline import Style
from .schemas import EventBodySchema, body_schema

#: the URL rule every entry's path is under
PREFIX = "/v1/claims/<uuid:claim_id>"
#: app.extensions key of the app's entry kinds, and the config key that overrides them
EXTENSION = CONFIG = "ENTRY_KINDS"
#: what the desk says under a date
TIME_HINT = ("A date alone is the start of that day; the time zone is the form's"
             " (remembered for you).")


@dataclass(frozen=True)
class Field:
    """One form field; ``name`` is its path in the API body (``by.name``).

    ``ask`` is what the desk says when the field is missing or not understood, in plain
    words; ``need`` overrides "(required)"/"(optional)" in the label."""

    name: str
    label: str
    kind: str = "text"  # text, textarea, url, time, select
    required: bool = False
    hint: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    ask: str = ""
    need: str = ""

    def dom_id(self, form: str) -> str:
        """The element id of this field in ``form``."""
        return f"{form}-{self.name.replace('.', '-').replace('_', '-')}"

    @property
    def needed(self) -> str:
        """How the label says whether the field must be filled."""
        return self.need or ("required" if self.required else "optional")


def agent_fields(prefix: str, label: str, who: str, required: bool = True) -> tuple[Field, ...]:
    """The fields of an agent (``by``, ``claimant``, ``reviewer``): a name and a URI."""
    group = "" if required else f", or leave every {label.lower()} field empty"
    return (
        Field(f"{prefix}.name", f"{label}: name", required=required,
              ask=f"Give the name of {who}{group}.",
              need="" if required else f"required for {label.lower()}"),
        Field(f"{prefix}.same_as", f"{label}: identifier URI", "url",
              hint="E.g. a Wikidata item: https://www.wikidata.org/wiki/Q9684",
              ask="Give an identifier URI such as https://www.wikidata.org/wiki/Q9684,"
              " or leave it empty."),
    )


def appearance_fields(required: bool) -> tuple[Field, ...]:
    """The fields of an appearance: outlet, URL, publication time and quote."""
    group = "" if required else ", or leave every appearance field empty"
    return (
        Field("appearance.outlet", "Appearance: outlet", required=required,
              ask=f"Give the outlet where it appeared, e.g. Fars News Agency{group}.",
              need="" if required else "required for an appearance"),
        Field("appearance.url", "Appearance: URL", "url",
              ask="Give the web address of the appearance, starting with http:// or"
              " https://, or leave it empty."),
        Field("appearance.published_at", "Appearance: published on", "time", hint=TIME_HINT,
              ask=f"Give the date the appearance was published, e.g. {EXAMPLE}."),
        Field("appearance.quote", "Appearance: quote", "textarea"),
    )


OCCURRED = Field("occurred_at", "Occurred on", "time",
                 hint="When it happened in the world; empty means now. " + TIME_HINT)
_RESPONSE = (
    *appearance_fields(False),
    Field("note", "Note", "textarea"),
    Field("related_claim_id", "Related claim id", hint="A claim this one bears on.",
          ask="Give the full id of a related claim, or leave it empty."),
    OCCURRED,
)
#: how a claim may relate to another, as the link form offers it
LINK_CHOICES = (
    ("same-as", "Same claim as (recorded twice)"), ("restates", "Restates"),
    ("responds-to", "Responds to"), ("contradicts", "Contradicts"),
)


@dataclass(frozen=True)
class EntryKind:
    """An entry of a claim: ``POST /v1/claims/{id}/<kind>`` appends one ``event_type``.

    ``doc`` is the view's docstring: the operation's OpenAPI summary (its first
    paragraph) and description. The desk shows the form (``title``,
    ``submit``, ``fields``, ``noun``) on the claim page at ``page`` (its place among the
    forms; None: not there), lets entries of this kind be corrected if ``correctable``, and
    draws and names them in ``style`` (None: ``desk_style``'s default).
    """

    kind: str
    event_type: str
    doc: str
    title: str = ""
    submit: str = ""
    fields: tuple[Field, ...] = ()
    noun: str = "entry"
    page: int | None = None
    correctable: bool = True
    role: str = "editor"
    style: Style | None = None
    schema: type[EventBodySchema] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        payload: type[Schema] = events.EVENT_TYPES[self.event_type].schema
        object.__setattr__(self, "schema", body_schema(self.kind, self.event_type, payload))

    @property
    def rule(self) -> str:
        """The URL rule of the entry's endpoint."""
        return f"{PREFIX}/{self.kind}"

    @property
    def desk_style(self) -> Style:
        """How the desk draws and names the entries: ``style``, or (none named) a note's
        marker in the notes' lane under the kind's noun, after the others in the legend."""
        return self.style or Style(4, "small-square", "note", self.noun.capitalize())


ENTRY_KINDS: tuple[EntryKind, ...] = (
    EntryKind(
        "appearances", "AppearanceAdded",
        "Add an appearance: the claim repeated or reported elsewhere (AppearanceAdded).",
        "Add an appearance", "Record appearance", (*appearance_fields(True), OCCURRED),
        "appearance", page=3,
        style=Style(0, "ring", "appearance", "Appearance", 1)),
    EntryKind(
        "corroborations", "ClaimCorroborated", "Record a corroboration (ClaimCorroborated).",
        "Add a corroboration", "Record corroboration",
        (*agent_fields("by", "Corroborated by", "who corroborated the claim"), *_RESPONSE),
        "corroboration", page=2,
        style=Style(1, "up", "corroboration", "Corroboration", 2)),
    EntryKind(
        "denials", "ClaimDenied", "Record a denial (ClaimDenied).",
        "Add a denial", "Record denial",
        (*agent_fields("by", "Denied by", "who denied the claim"), *_RESPONSE),
        "denial", page=1,
        style=Style(2, "down", "denial", "Denial", 3)),
    EntryKind(
        "retractions", "ClaimRetracted", "Record that the claim was withdrawn (ClaimRetracted).",
        "Record a retraction", "Record retraction",
        (*agent_fields("by", "Retracted by", "who retracted the claim"),
         *appearance_fields(False), Field("note", "Note", "textarea"), OCCURRED),
        "retraction", page=5,
        style=Style(3, "square", "retraction", "Retraction", 5)),
    EntryKind(
        "verdicts", "VerdictIssued",
        "Issue a verdict on a named scale (VerdictIssued); the value must be on the scale.",
        "Issue a verdict", "Issue verdict",
        (Field("scale", "Scale", "select", required=True, ask="Choose the scale."),
         Field("value", "Verdict", "select", required=True, ask="Choose the verdict."),
         Field("explanation", "Explanation", "textarea", required=True,
               ask="Give the explanation: why this verdict."),
         *agent_fields("reviewer", "Reviewer", "the reviewer", required=False), OCCURRED),
        "verdict", page=4,
        style=Style(3, "diamond", "verdict", "Verdict", 4)),
    # the desk corrects an entry from the entry itself (api.desk.correcting)
    EntryKind(
        "corrections", "EntryCorrected",
        "Correct, clarify or void an earlier entry of this claim (EntryCorrected).\n\n"
        "The target must be an earlier event of this claim, not a correction and not\n"
        "already voided; ``changes`` may name only fields of the target's payload.",
        noun="correction", correctable=False,
        style=Style(4, "hexagon", "correction", "Correction", 7)),
    EntryKind(
        "notes", "NoteAdded", "Add an internal editorial note (NoteAdded).",
        "Add an internal note", "Add note",
        (Field("text", "Note", "textarea", required=True, ask="Write the note."), OCCURRED),
        "note", page=6,
        style=Style(4, "small-square", "note", "Note", 6)),
    # the desk makes a link from the claim page's search (desk/_links.html), never by typing
    EntryKind(
        "links", "ClaimLinked",
        "Link this claim to another one (ClaimLinked): same-as, restates, responds-to or\n"
        "contradicts. The other claim must exist and be another claim (422 otherwise); void\n"
        "the link with a correction like any entry.",
        "Link to another claim", "Link",
        (Field("target_claim_id", "Other claim", required=True,
               ask="Find the other claim with the search and choose it."),
         Field("kind", "How this claim relates to it", "select", required=True,
               options=LINK_CHOICES, ask="Choose how this claim relates to the other one."),
         Field("note", "Note", "textarea")),
        "link", style=Style(0, "diamond", "linked", "Link", 8)),
)

#: the standard kinds by event type
KINDS_BY_TYPE = {k.event_type: k for k in ENTRY_KINDS}


def entry_table(kinds: Sequence[EntryKind]) -> str:
    """The Markdown table of the entry endpoints (docs/api.md shows the standard kinds')."""
    rows = ["| endpoint | appends | role | what it records |", "|---|---|---|---|"]
    for k in kinds:
        summary = " ".join(k.doc.split("\n\n")[0].split())
        rows.append(f"| `POST /v1/claims/{{id}}/{k.kind}` | `{k.event_type}` | {k.role} |"
                    f" {summary} |")
    return "\n".join(rows) + "\n"


def install(app: Flask, kinds: Sequence[EntryKind]) -> tuple[EntryKind, ...]:
    """Make ``kinds`` the app's entry kinds."""
    chosen = app.extensions[EXTENSION] = tuple(kinds)
    return chosen


def current_kinds() -> tuple[EntryKind, ...]:
    """The entry kinds of the current app."""
    kinds: tuple[EntryKind, ...] = current_app.extensions.get(EXTENSION, ENTRY_KINDS)
    return kinds


if __name__ == "__main__":  # the table docs/api.md shows
    print(entry_table(ENTRY_KINDS), end="")
