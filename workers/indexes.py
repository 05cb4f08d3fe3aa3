"""What the list filters on, derived from a claim state (the fold's output).

Each claim belongs to index sets named ``all``, ``status:<s>``, ``verdict:<v>``,
``claimant:<name>``, ``outlet:<outlet>`` and ``tag:<tag>``; a voided claim belongs
only to ``status:voided``, which hides it from every other list. Index members are
``updated_at|claim_id``: canonical times are fixed-width, so lexicographic order is
time order and the claim id breaks ties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: filters of the list, in the order tried as the primary index
FILTERS = ("claimant", "tag", "outlet", "verdict", "status")
SEPARATOR = "|"


def normalize(value: str) -> str:
    """Case- and whitespace-insensitive form of a name or outlet."""
    return " ".join(value.casefold().split())


def member(state: Mapping[str, Any]) -> str:
    """The sorted-set member of a claim: ``updated_at|claim_id``."""
    return f"{state['updated_at']}{SEPARATOR}{state['id']}"


def attributes(state: Mapping[str, Any]) -> set[str]:
    """Every ``filter:value`` a claim matches, voided or not."""
    names = {f"status:{state['status']}"}
    verdict = state.get("verdict")
    if verdict and verdict.get("value"):
        names.add(f"verdict:{verdict['value']}")
    claimant = state.get("claimant") or {}
    if claimant.get("name"):
        names.add(f"claimant:{normalize(claimant['name'])}")
    for appearance in state.get("appearances") or []:
        if appearance.get("outlet"):
            names.add(f"outlet:{normalize(appearance['outlet'])}")
    for tag in state.get("tags") or []:
        names.add(f"tag:{tag}")
    return names


def index_names(state: Mapping[str, Any]) -> list[str]:
    """The index sets a claim is a member of (sorted, for a stable record)."""
    if state["status"] == "voided":
        return ["status:voided"]
    return sorted({"all", *attributes(state)})


def wanted(filters: Mapping[str, str | None]) -> set[str]:
    """The ``filter:value`` names a set of list filters asks for."""
    names: set[str] = set()
    for name in FILTERS:
        value = filters.get(name)
        if value is None or value == "":
            continue
        if name in ("claimant", "outlet"):
            value = normalize(value)
        names.add(f"{name}:{value}")
    return names


def matches(state: Mapping[str, Any], names: set[str]) -> bool:
    """Whether a claim matches every filter (voided claims only if asked for)."""
    return matches_attributes(attributes(state), names)


def matches_attributes(attrs: set[str], names: set[str]) -> bool:
    """``matches`` given a claim's ``attributes`` (as the views keep them)."""
    if "status:voided" in attrs and "status:voided" not in names:
        return False
    return names <= attrs
