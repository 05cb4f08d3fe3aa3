"""A claim's timeline as SVG, drawn on the server: its events on a time axis by ``occurred_at``.

Each kind of entry has its own lane, colour and shape (a corroboration is a green
triangle pointing up, a denial a red triangle pointing down), so neither colour nor
shape alone carries the meaning. Voided entries are faded and struck through, and
each correction is joined to the entry it targets by an arrow. Every marker links to
its row in the entries table, so the timeline is keyboard navigable.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from ledger import axis
from ledger.envelope import RecordedEvent
from ledger.timeutil import parse_time

#: what the desk shows in place of a redacted payload's text
REDACTED = "[redacted]"
WIDTH = 960.0
LEFT = 170.0
RIGHT = 40.0
TOP = 16.0
LANE = 46.0
SIZE = 8.0


@dataclass(frozen=True)
class Style:
    """How one event type is drawn and named; ``legend`` is its place in the claim page's
    legend (the lowest first)."""

    lane: int
    shape: str  # circle, ring, up, down, diamond, square, small-square, hexagon
    css: str  # a class in desk.css that sets the colour
    label: str
    legend: int = 99


#: how the claim itself is drawn (each entry kind's style is on its registry line:
#: ``api.entry_kinds``; the app's styles by event type: ``api.desk.forms.desk_forms().styles``)
RECORDED = Style(0, "circle", "recorded", "Claim recorded", 0)
LANES = ("Claim & appearances", "Corroborations", "Denials", "Verdicts & retractions",
         "Notes & corrections")


def shape(kind: str, x: float, y: float, size: float = SIZE) -> str:
    """The SVG element of a marker shape centred on (x, y)."""
    s = size
    if kind in ("circle", "ring"):
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s:.1f}"/>'
    if kind == "up":
        points = [(x, y - s - 1), (x + s + 1, y + s), (x - s - 1, y + s)]
    elif kind == "down":
        points = [(x - s - 1, y - s), (x + s + 1, y - s), (x, y + s + 1)]
    elif kind == "diamond":
        points = [(x, y - s - 2), (x + s + 2, y), (x, y + s + 2), (x - s - 2, y)]
    elif kind == "hexagon":
        h = s * 0.87
        points = [(x - s, y), (x - s / 2, y - h), (x + s / 2, y - h), (x + s, y),
                  (x + s / 2, y + h), (x - s / 2, y + h)]
    else:
        half = s if kind == "square" else s * 0.7
        return (f'<rect x="{x - half:.1f}" y="{y - half:.1f}" width="{2 * half:.1f}"'
                f' height="{2 * half:.1f}"/>')
    text = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    return f'<polygon points="{text}"/>'


def legend_icon(style: Style) -> Markup:
    """A small SVG of an event type's marker (drawn in ``style``), for the legend."""
    return Markup(  # noqa: S704 (built from constants)
        f'<svg class="icon" width="22" height="22" viewBox="0 0 22 22" aria-hidden="true">'
        f'<g class="mark {style.css} shape-{style.shape}">{shape(style.shape, 11, 11, 7)}</g></svg>'
    )


#: a stretch of the story longer than this with nothing in it, and longer than a fifth of
#: the whole span, breaks the axis (each part then has a scale of its own): ``ledger.axis``,
#: the rule the views' histogram follows too
BREAK_AFTER = timedelta(seconds=axis.BREAK_AFTER)
MAX_PARTS = axis.MAX_PARTS
GAP = 44.0


@dataclass(frozen=True)
class Part:
    """One part of a broken axis: its times and where it is drawn."""

    start: datetime
    end: datetime
    x0: float
    x1: float

    def x(self, moment: datetime) -> float:
        """Where ``moment`` is drawn in this part (its ends padded by 4 %)."""
        width = self.x1 - self.x0
        if self.end == self.start:
            return self.x0 + width / 2
        pad = width * 0.04
        share = (moment - self.start).total_seconds() / (self.end - self.start).total_seconds()
        return self.x0 + pad + (width - 2 * pad) * min(1.0, max(0.0, share))


def side_by_side(spans: Sequence[tuple[datetime, datetime]], left: float, width: float
                 ) -> list[Part]:
    """Parts for these spans of time, drawn in equal widths ``GAP`` apart."""
    each = (width - GAP * (len(spans) - 1)) / len(spans)
    return [Part(start, end, left + k * (each + GAP), left + k * (each + GAP) + each)
            for k, (start, end) in enumerate(spans)]


def axis_parts(times: Sequence[datetime], left: float, width: float) -> list[Part]:
    """The parts of the time axis: one, unless the story has long empty stretches."""
    ordered = sorted(set(times))
    offsets = [(t - ordered[0]).total_seconds() for t in ordered]
    groups = [ordered[first:last + 1] for first, last in axis.groups(offsets)]
    return side_by_side([(group[0], group[-1]) for group in groups], left, width)


def duration(delta: timedelta) -> str:
    """A length of time in words, roughly: ``12 years``, ``3 months``, ``2 days``."""
    days = delta.total_seconds() / 86400
    if days >= 730:
        return f"{days / 365.25:.0f} years"
    if days >= 60:
        return f"{days / 30.44:.0f} months"
    if days >= 2:
        return f"{days:.0f} days"
    hours = days * 24
    if hours >= 2:
        return f"{hours:.0f} hours"
    minutes = hours * 60
    return f"{minutes:.0f} minutes" if minutes >= 1 else "one moment"


def scale_note(parts: Sequence[Part]) -> str:
    """The scale of the axis, in words."""
    def extent(part: Part) -> str:
        first = part.start.strftime("%d %b %Y %H:%M")
        if part.end == part.start:
            return f"{first} (one moment)"
        last = part.end.strftime("%d %b %Y %H:%M")
        return f"{first} – {last} ({duration(part.end - part.start)})"
    if len(parts) == 1:
        return f"Time scale: {extent(parts[0])} UTC across the width."
    gaps = ", ".join(duration(b.start - a.end) for a, b in itertools.pairwise(parts))
    return (f"The time axis is broken where nothing happened for a long time (gaps of {gaps});"
            f" each of its {len(parts)} parts has its own scale: "
            + "; ".join(extent(p) for p in parts) + " (UTC).")


def _ticks(start: datetime, end: datetime, count: int = 5) -> list[datetime]:
    if end <= start:
        return [start]
    step = (end - start) / (count - 1)
    return [start + step * i for i in range(count)]


def _tick_label(moment: datetime, span_days: float) -> str:
    return moment.strftime("%d %b %Y" if span_days > 3 else "%d %b %H:%M")


def or_redacted(value: object) -> object:
    """A text, or ``[redacted]`` where a redaction left None (a Jinja filter)."""
    return REDACTED if value is None else value


def summary(event: RecordedEvent) -> str:
    """Who or what an entry is about, in a few words."""
    data: Mapping[str, Any] = event.data or {}
    who = data.get("by") or data.get("claimant") or data.get("reviewer") or {}
    if isinstance(who, Mapping) and who.get("name"):
        return str(who["name"])
    if event.type == "AppearanceAdded":
        return str((data.get("appearance") or {}).get("outlet") or "")
    if event.type == "VerdictIssued":
        return str(data.get("value") or "")
    if event.type in ("EntryCorrected", "ClaimLinked"):
        return str(data.get("kind") or "")
    return ""


def details(event: RecordedEvent) -> str:
    """The entry's main text: its statement, note, explanation, reason or quote."""
    if event.data is None:
        return REDACTED
    data: Mapping[str, Any] = event.data
    for key in ("statement", "note", "explanation", "text", "reason"):
        if data.get(key):
            return str(data[key])
    appearance = data.get("appearance")
    if isinstance(appearance, Mapping) and appearance.get("quote"):
        return str(appearance["quote"])
    return ""


def draw_lanes(counts: Sequence[int] | None = None) -> list[str]:
    """The SVG of the lanes' bands and names (each name with its count, when given)."""
    out: list[str] = []
    for index, name in enumerate(LANES):
        y = TOP + LANE * index
        label = escape(name) if counts is None else f"{escape(name)} ({counts[index]})"
        out.append(f'<rect class="lane lane-{index % 2}" x="0" y="{y}" width="{WIDTH}"'
                   f' height="{LANE}"/>')
        out.append(f'<text class="lane-label" x="10" y="{y + LANE / 2 + 4:.1f}">{label}</text>')
    return out


def draw_axis(parts_: Sequence[Part], axis_y: float) -> list[str]:
    """The SVG of a (possibly broken) time axis: each part's line and ticks, and a break
    mark labelled with the gap between parts."""
    parts: list[str] = []
    for part, after in itertools.pairwise(parts_):
        middle = (part.x1 + after.x0) / 2
        parts.append(f'<rect class="axis-break" x="{part.x1 + 6:.1f}" y="{TOP}"'
                     f' width="{GAP - 12:.1f}" height="{axis_y - TOP:.1f}"/>')
        low, high = axis_y + 7, axis_y - 7
        parts.append(f'<path class="break-mark" d="M{middle - 9:.1f},{low} L{middle - 3:.1f},'
                     f'{high} M{middle + 3:.1f},{low} L{middle + 9:.1f},{high}"/>')
        parts.append(f'<text class="tick-label break-label" x="{middle:.1f}" y="{axis_y + 38}"'
                     f' text-anchor="middle">{escape(duration(after.start - part.end))}'
                     " later</text>")
    for part in parts_:
        parts.append(f'<line class="axis" x1="{part.x0:.1f}" y1="{axis_y}" x2="{part.x1:.1f}"'
                     f' y2="{axis_y}"/>')
        span_days = (part.end - part.start).total_seconds() / 86400
        count = 5 if len(parts_) == 1 else (2 if part.end > part.start else 1)
        for moment in _ticks(part.start, part.end, count):
            x = part.x(moment)
            parts.append(f'<line class="tick" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}"'
                         f' y2="{axis_y + 5}"/>')
            label = _tick_label(moment, span_days)
            if len(parts_) > 1 and span_days <= 3:  # each part says its year
                label = moment.strftime("%d %b %Y %H:%M")
            anchor = "middle" if count != 2 else ("start" if moment == part.start else "end")
            parts.append(f'<text class="tick-label" x="{x:.1f}" y="{axis_y + 20}"'
                         f' text-anchor="{anchor}">{escape(label)}</text>')
    parts.append(f'<text class="axis-label" x="{WIDTH - RIGHT}" y="{axis_y + 54}"'
                 ' text-anchor="end">occurred at (UTC)</text>')
    return parts


def render_timeline(events: Sequence[RecordedEvent], voided: set[str],
                    styles: Mapping[str, Style]) -> Markup:
    """The SVG timeline of a claim's events drawn in ``styles`` (empty markup when there
    are none)."""
    drawn = [e for e in events if e.type in styles]
    if not drawn:
        return Markup("")
    times = {e.id: parse_time(e.occurred_at) for e in drawn}
    # a correction is about the record, not the world: it sits beside its target and
    # does not stretch the axis (its occurred_at is usually just when it was typed)
    worldly = [times[e.id] for e in drawn if e.type != "EntryCorrected"] or list(times.values())
    end = max(worldly)
    for event in drawn:
        target = (event.data or {}).get("target_event_id")
        if event.type == "EntryCorrected":
            times[event.id] = times.get(str(target), end) if target else end
    parts_ = axis_parts(worldly, LEFT, WIDTH - LEFT - RIGHT)

    def x_of(moment: datetime) -> float:
        part = min(parts_, key=lambda p: 0.0 if p.start <= moment <= p.end else min(
            abs((moment - p.start).total_seconds()), abs((moment - p.end).total_seconds())))
        return part.x(moment)

    axis_y = TOP + LANE * len(LANES) + 6
    height = axis_y + 60
    parts: list[str] = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH:.0f} {height:.0f}" width="100%" role="group"'
        ' aria-labelledby="timeline-title" aria-describedby="timeline-scale"'
        ' xmlns="http://www.w3.org/2000/svg">',
        '<title id="timeline-title">Timeline of the claim\'s entries by the time they'
        " occurred (UTC)</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"'
        ' class="arrowhead"/></marker></defs>',
    ]
    parts.extend(draw_lanes())
    parts.extend(draw_axis(parts_, axis_y))

    where: dict[str, tuple[float, float]] = {}
    stacked: dict[int, list[float]] = {}
    for event in drawn:
        style = styles[event.type]
        x = x_of(times[event.id])
        near = [other for other in stacked.setdefault(style.lane, []) if abs(other - x) < 14]
        stacked[style.lane].append(x)
        y = TOP + LANE * style.lane + LANE / 2 - 4 + (0, -12, 12)[len(near) % 3]
        where[event.id] = (x, y)
    links: list[str] = []
    marks: list[str] = []
    for event in drawn:
        style = styles[event.type]
        x, y = where[event.id]
        is_void = event.id in voided
        data = event.data or {}
        if event.type == "EntryCorrected" and data.get("target_event_id") in where:
            tx, ty = where[data["target_event_id"]]
            bend = min(y, ty) - 22
            kind = escape(str(data.get("kind", "")))
            links.append(f'<path class="link link-{kind}" d="M{x:.1f},{y:.1f} Q{(x + tx) / 2:.1f},'
                         f'{bend:.1f} {tx:.1f},{ty - SIZE - 2:.1f}" marker-end="url(#arrow)"/>')
        what = styles[event.type].label
        about = summary(event)
        title = f"v{event.version} {what}" + (f": {about}" if about else "")
        title += f", occurred {event.occurred_at[:16].replace('T', ' ')} UTC"
        if is_void:
            title += " (voided)"
        classes = f"mark {style.css} shape-{style.shape}" + (" voided" if is_void else "")
        strike = (f'<line class="strike" x1="{x - 13:.1f}" y1="{y:.1f}" x2="{x + 13:.1f}"'
                  f' y2="{y:.1f}"/>') if is_void else ""
        marks.append(
            f'<a href="#event-{escape(event.id)}" class="event-link" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>"
            f'<g class="{classes}" data-event-id="{escape(event.id)}">'
            f"{shape(style.shape, x, y)}{strike}"
            f'<text class="mark-label" x="{x:.1f}" y="{y + SIZE + 13:.1f}" text-anchor="middle">'
            f"v{event.version}</text></g></a>"
        )
    parts.extend(links)
    parts.extend(marks)
    parts.append("</svg>")
    parts.append(f'<p class="axis-note" id="timeline-scale">{escape(scale_note(parts_))}</p>')
    return Markup("".join(parts))  # noqa: S704 (every text above is escaped)
