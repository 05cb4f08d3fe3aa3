"""Rules an ``EntryCorrected`` must satisfy against the claim it belongs to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ValidationFailed
from .events import schema_for, validate_payload
from .fold import FoldableEvent, corrections, current_data
from .scales import DEFAULT_SCALES, Scales


def check_correction(
    data: Mapping[str, Any],
    history: Sequence[FoldableEvent],
    *,
    path: str = "data",
    scales: Scales = DEFAULT_SCALES,
) -> dict[str, Any]:
    """Check an ``EntryCorrected`` payload against its claim; returns it normalised.

    The target must be an earlier event of the same claim, not itself a correction and
    not voided; ``changes`` may name only the target's payload fields and the corrected
    payload must still pass the target's schema.
    """
    target_id = data["target_event_id"]
    target = next((e for e in history if e.id == target_id), None)
    field = f"{path}.target_event_id"
    if target is None:
        raise ValidationFailed(
            "no such event in this claim", {field: ["No such event in this claim."]}
        )
    if target.type == "EntryCorrected":
        raise ValidationFailed(
            "a correction cannot target another correction",
            {field: ["Targets an EntryCorrected; correct the original entry instead."]},
        )
    effects = corrections(history)
    if target_id in effects.voided:
        raise ValidationFailed("the entry is already voided", {field: ["Already voided."]})
    if data["kind"] != "correction":
        return dict(data)
    changes: Mapping[str, Any] = data["changes"]
    known = set(schema_for(target.type).fields)
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValidationFailed(
            "changes name fields the target does not have",
            {f"{path}.changes.{name}": [f"Not a field of {target.type}."] for name in unknown},
        )
    if target.data is None:
        raise ValidationFailed(
            "the target was redacted", {field: ["Redacted; cannot be corrected."]}
        )
    if target.type == "ClaimLinked" and "target_claim_id" in changes:
        raise ValidationFailed(
            "a link's other claim cannot be corrected",
            {f"{path}.changes.target_claim_id": ["Void the link and link the right claim."]},
        )
    merged = {**current_data(target, effects), **changes}
    normalised = validate_payload(target.type, merged, scales, path=f"{path}.changes")
    if target.type == "ClaimLinked" and "kind" in changes:
        try:
            check_link(normalised, [e for e in history if e.id != target.id], path=path)
        except ValidationFailed as exc:
            raise ValidationFailed(str(exc), {f"{path}.changes.kind": [
                "The claim already has a link of this kind to that claim; void this one"
                " instead."]}) from None
    return {**data, "changes": {name: normalised.get(name) for name in changes}}


def check_link(
    data: Mapping[str, Any], history: Sequence[FoldableEvent], *, path: str = "data",
    target: Sequence[FoldableEvent] | None = None,
) -> None:
    """A ``ClaimLinked`` must not repeat a link the claim already has (the same other claim
    and kind, neither voided nor redacted): a retried request or a second click would
    otherwise show the link twice everywhere, ClaimReview's ``sameAs`` included. Given
    the other claim's events (``target``), it must not be voided nor have its record
    redacted: a link would point readers at a claim the ledger withdrew, or at nothing."""
    if target:
        check_link_target(target, path=path)
    effects = corrections(history)
    for event in history:
        if event.type != "ClaimLinked" or event.id in effects.voided or event.data is None:
            continue
        link = current_data(event, effects)
        if (link.get("target_claim_id"), link.get("kind")) == (
                data["target_claim_id"], data["kind"]):
            raise ValidationFailed(
                "the claim already has this link",
                {f"{path}.target_claim_id": [
                    f"Already linked to this claim as {data['kind']} (entry {event.id});"
                    " correct or void that link instead."]},
            )


def check_link_target(target: Sequence[FoldableEvent], *, path: str = "data") -> None:
    """The other claim of a new link: refused (422 at ``target_claim_id``) when its
    ``ClaimRecorded`` was voided or redacted."""
    recorded = next((e for e in target if e.type == "ClaimRecorded"), None)
    if recorded is None:
        return
    field = f"{path}.target_claim_id"
    if recorded.id in corrections(target).voided:
        raise ValidationFailed("the other claim is voided", {field: [
            "Voided: its record was withdrawn by a correction; link the claim that"
            " replaced it."]})
    if recorded.data is None:
        raise ValidationFailed("the other claim was redacted", {field: [
            "Redacted: its record was removed from the ledger and cannot be linked."]})
