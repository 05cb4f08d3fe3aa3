"""Ids as people type them on the command line: an unambiguous prefix is enough, as in git.

``show 44fc3793`` finds the one claim whose id starts so; an ambiguous prefix lists the
candidates, and one shorter than ``MIN_PREFIX`` characters asks for more.
"""

from __future__ import annotations

import re

import click

from ledger.store import EventStore

#: the shortest prefix looked up (4 hex digits: 1 in 65,536 ids share it)
MIN_PREFIX = 4
#: candidates listed for an ambiguous prefix
SHOWN = 10
FULL = 36
_ID_TEXT = re.compile(r"[0-9a-f-]+")


def resolve(store: EventStore, text: str, *, events: bool = False) -> str:
    """The full claim id (event id with ``events``) that ``text`` is, or begins."""
    what = "event" if events else "claim"
    wanted = text.strip().lower()
    if not _ID_TEXT.fullmatch(wanted):
        raise click.BadParameter(
            f"{text!r} is not a {what} id (hex digits and dashes, e.g. 44fc3793)",
            param_hint=f"{what.upper()}_ID",
        )
    if len(wanted) == FULL:
        return wanted
    if len(wanted.replace("-", "")) < MIN_PREFIX:
        raise click.BadParameter(
            f"{text!r} is too short to look up: give at least {MIN_PREFIX} characters of"
            f" the {what} id", param_hint=f"{what.upper()}_ID",
        )
    found = store.ids_starting(wanted, events=events, limit=SHOWN + 1)
    if not found:
        raise click.ClickException(f"no {what} id starts with {wanted}")
    if len(found) == 1:
        return found[0]
    lines = [f"{len(found) if len(found) <= SHOWN else f'more than {SHOWN}'} {what}s start"
             f" with {wanted}; give more of the id:"]
    lines += [f"  {candidate}  {_label(store, candidate, events)}" for candidate in
              found[:SHOWN]]
    raise click.ClickException("\n".join(lines))


def _label(store: EventStore, found: str, events: bool) -> str:
    """A few words on a candidate: an event's type and claim, a claim's statement."""
    if events:
        event = store.get_event(found)
        return f"{event.type} of claim {event.claim_id}" if event else ""
    first = store.read_claim(found, limit=1)
    statement = str((first[0].data or {}).get("statement") or "") if first else ""
    return statement if len(statement) <= 60 else statement[:59] + "…"
