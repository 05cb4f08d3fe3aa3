"""Verdict scales: data, so a desk can use its own vocabulary.

Each value has a label and a position (1 = worst) so it maps onto ClaimReview's
``ratingValue`` / ``worstRating`` / ``bestRating`` / ``alternateName``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ScaleValue:
    """One rating on a scale."""

    value: str
    label: str
    rating: int


@dataclass(frozen=True, slots=True)
class Scale:
    """A named, ordered set of ratings."""

    name: str
    values: tuple[ScaleValue, ...]

    def get(self, value: str) -> ScaleValue | None:
        """The rating called ``value``, or None."""
        for item in self.values:
            if item.value == value:
                return item
        return None

    @property
    def best(self) -> int:
        """The highest rating on the scale."""
        return max(v.rating for v in self.values)

    @property
    def worst(self) -> int:
        """The lowest rating on the scale."""
        return min(v.rating for v in self.values)


STANDARD = Scale(
    "standard",
    (
        ScaleValue("true", "True", 5),
        ScaleValue("mostly-true", "Mostly true", 4),
        ScaleValue("mixed", "Mixed", 3),
        ScaleValue("mostly-false", "Mostly false", 2),
        ScaleValue("false", "False", 1),
    ),
)

Scales = Mapping[str, Scale]

DEFAULT_SCALES: Scales = {STANDARD.name: STANDARD}


def scales_from_json(document: Mapping[str, Any]) -> dict[str, Scale]:
    """Build scales from ``{"name": [{"value", "label", "rating"}, …]}`` plus the built-in."""
    result = dict(DEFAULT_SCALES)
    for name, items in document.items():
        values = tuple(
            ScaleValue(str(i["value"]), str(i["label"]), int(i["rating"])) for i in items
        )
        if not values:
            raise ValueError(f"scale {name!r} has no values")
        result[str(name)] = Scale(str(name), values)
    return result


def load_scales(path: str | Path | None) -> dict[str, Scale]:
    """The built-in scales, plus those in a JSON file when a path is given."""
    if not path:
        return dict(DEFAULT_SCALES)
    return scales_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
