"""The timeline of a claim too long to draw entry by entry: a histogram on a broken axis.

It reads the claim's recent state's ``histogram`` (``ledger.fold.histogram``, kept by the
projector), never the claim's entries, so it costs the same at any length. Its ``parts``
are the parts of the story (``ledger.axis``: cut at long empty stretches, as the per-entry
timeline is), each counted over spans of its own and drawn to its own scale, which is
stated under the drawing. Views written before ``parts`` were kept have one part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from ledger.timeutil import parse_time

from .timeline import (
    LANE,
    LANES,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    Part,
    draw_axis,
    draw_lanes,
    duration,
    scale_note,
    side_by_side,
)

#: the class (colour) of each lane's bars in desk.css
BAR_CSS = ("recorded", "corroboration", "denial", "verdict", "note")


def stored_parts(histogram: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The histogram's parts: its own, or (stored before parts were kept) the whole one."""
    parts = histogram.get("parts")
    if isinstance(parts, list) and parts:
        return parts
    return [{"start": histogram["start"], "end": histogram["end"], "lanes": histogram["lanes"]}]


def place(stored: Sequence[Mapping[str, Any]], left: float, width: float) -> list[Part]:
    """Where each stored part is drawn: equal widths, ``GAP`` apart."""
    return side_by_side([(parse_time(p["start"]), parse_time(p["end"])) for p in stored],
                        left, width)


def bar_note(parts: Sequence[Part], stored: Sequence[Mapping[str, Any]]) -> str:
    """What one bar counts, in words: its span of time in each part."""
    spans = []
    for part, kept in zip(parts, stored, strict=True):
        buckets = len(kept["lanes"][0])
        spans.append("one moment" if part.end == part.start
                     else duration((part.end - part.start) / buckets))
    if len(spans) == 1:
        return f"Each bar counts the entries of a span of {spans[0]}."
    return ("Each bar counts the entries of a span of "
            + "; ".join(f"{span} in part {k}" for k, span in enumerate(spans, 1)) + ".")


def render_histogram(histogram: Mapping[str, Any] | None, total: int) -> Markup:
    """The histogram timeline: per lane and part, how many active entries occurred in each
    span of time (at most 48 spans a lane in all)."""
    if not histogram:
        return Markup("")
    stored = stored_parts(histogram)
    parts_ = place(stored, LEFT, WIDTH - LEFT - RIGHT)
    totals = [sum(sum(p["lanes"][lane]) for p in stored) for lane in range(len(LANES))]
    peak = max(1, max(max(row) for p in stored for row in p["lanes"]))
    axis_y = TOP + LANE * len(LANES) + 6
    spans = sum(len(p["lanes"][0]) for p in stored)
    out = [
        f'<svg class="timeline histogram" viewBox="0 0 {WIDTH:.0f} {axis_y + 60:.0f}"'
        ' width="100%" role="img" aria-labelledby="timeline-title"'
        ' aria-describedby="timeline-scale" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="timeline-title">How many of the claim\'s {total} entries occurred when'
        f" (UTC), per kind: {sum(totals)} active entries in {spans} spans of time</title>",
    ]
    out.extend(draw_lanes(totals))
    out.extend(draw_axis(parts_, axis_y))
    for part, kept in zip(parts_, stored, strict=True):
        buckets = len(kept["lanes"][0])
        step = (part.end - part.start) / buckets
        for index, row in enumerate(kept["lanes"]):
            y = TOP + LANE * index
            for bucket, count in enumerate(row):
                if not count:
                    continue
                if part.end == part.start:  # one moment: a narrow bar where it is
                    x0, x1 = part.x(part.start) - 6, part.x(part.start) + 6
                else:
                    x0 = part.x(part.start + step * bucket)
                    x1 = part.x(part.start + step * (bucket + 1))
                height = max(2.0, (LANE - 8) * count / peak)
                out.append(
                    f'<rect class="bar {BAR_CSS[index]}" x="{x0 + 1:.1f}"'
                    f' y="{y + LANE - 4 - height:.1f}" width="{max(x1 - x0 - 2, 1):.1f}"'
                    f' height="{height:.1f}"><title>{count}</title></rect>')
    out.append("</svg>")
    note = f"{scale_note(parts_)} {bar_note(parts_, stored)}"
    out.append(f'<p class="axis-note" id="timeline-scale">{escape(note)}</p>')
    return Markup("".join(out))  # noqa: S704 (every text above is escaped or a number)
