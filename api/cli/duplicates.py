"""``claimledger import --dry-run``: check a file, write nothing, list likely duplicates.

Each claim the file would record is compared (trigram similarity, as ``GET
/v1/claims/similar``) with the claims in the search index and with the file's other new
claims; those at or above ``SIMILAR_THRESHOLD`` are listed by line.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from ledger.envelope import NewEvent
from ledger.search import open_search_index
from ledger.search.text import similarity, trigrams

from ..search import SIMILAR_THRESHOLD

#: the file's own claims are compared pairwise only up to this many
MAX_PAIRWISE = 2000


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= width else text[: width - 1] + "…"


def report_duplicates(database_url: str, events: Sequence[NewEvent]) -> list[str]:
    """The dry run's ``duplicate:`` lines (and a note when the index cannot answer)."""
    new = [(int(e.metadata.get("import_line", 0)), str(e.data.get("statement") or ""))
           for e in events if e.type == "ClaimRecorded"]
    lines: list[str] = []
    index = open_search_index(database_url)
    try:
        live = index.live()
        if live is None:
            lines.append("note: no search index yet (a worker builds it): only the file's own"
                         " claims were compared")
        for line, statement in new:
            if live is None or not statement:
                continue
            for found in index.similar(live.generation, statement, limit=3,
                                       threshold=SIMILAR_THRESHOLD):
                their = _short(str(found.item.get("statement")))
                lines.append(f"duplicate: line {line} is close to claim {found.item['id']}"
                             f" ({found.score:.2f}): \"{their}\"")
    except Exception as exc:  # the dry run still checked the file
        lines.append(f"note: the search index could not answer ({_short(str(exc))})")
    finally:
        index.close()
    grams = [(line, trigrams(statement)) for line, statement in new[:MAX_PAIRWISE]]
    for i, (line, mine) in enumerate(grams):
        for other, theirs in grams[:i]:
            score = similarity(mine, theirs)
            if score >= SIMILAR_THRESHOLD:
                lines.append(f"duplicate: line {line} is close to line {other} of the file"
                             f" ({score:.2f})")
    return lines


def echo_dry_run(database_url: str, events: Sequence[NewEvent]) -> None:
    """Print what an import would do, and the likely duplicates."""
    claims = len({e.claim_id for e in events})
    click.echo(f"dry run: every line checked; would import {len(events)} events into"
               f" {claims} claims; nothing written")
    found = report_duplicates(database_url, events)
    for line in found:
        click.echo(line)
    if not any(line.startswith("duplicate:") for line in found):
        click.echo("duplicate: none likely")
