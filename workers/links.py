"""Links between claims in the views: each claim shows the other claims' links to it.

A ``ClaimLinked`` belongs to the stream of the claim that links (the source); the claim
it names (the target) may live in another partition. So every partition, for each batch,
also looks at the link-bearing events of the whole page: for each source claim with a
``ClaimLinked`` or a correction of one (or of its ``ClaimRecorded``) in the batch, it
folds the source as of the batch's end and writes, in the same atomic script as the
batch, the source's active links to the targets of that partition. What a source gives
a partition replaces what it gave before (``lo:{source}`` remembers it), so the result
is a function of the log up to the checkpoint, whatever the batches were: a rebuild
gives the same. Per target, ``li:{target}`` is a hash of link event id → JSON
``{event_id, claim_id, kind, occurred_at}`` (no free text: the note stays on the source).
Which links a source gives (``given``) and their order are ``ledger.links``'s, shared with
the answer the log gives when the views cannot (``ledger.links.linked_from``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis import Redis

from ledger.envelope import RecordedEvent
from ledger.links import given, inbound_order

from .config import PartitionKeys, partition_of, text
from .indexes import matches, matches_attributes

#: the event types that may change which links a claim gives
LINKING = frozenset({"ClaimLinked", "EntryCorrected"})


def sources(events: Sequence[RecordedEvent]) -> dict[str, list[RecordedEvent]]:
    """The claims whose links a page may have changed, each with all its events in it."""
    linking = {e.claim_id for e in events if e.type in LINKING}
    found: dict[str, list[RecordedEvent]] = {}
    if linking:
        for event in events:
            if event.claim_id in linking:
                found.setdefault(event.claim_id, []).append(event)
    return found


def relevant(stream: Sequence[RecordedEvent], new: Sequence[RecordedEvent]) -> bool:
    """Whether ``new`` (events of the stream) may change the links the claim gives."""
    if not any(e.type in LINKING for e in new) or not any(
        e.type == "ClaimLinked" for e in stream
    ):
        return False
    if any(e.type == "ClaimLinked" for e in new):
        return True
    types = {e.id: e.type for e in stream}
    return any(
        e.data is not None and types.get(e.data.get("target_event_id", ""))
        in ("ClaimLinked", "ClaimRecorded")
        for e in new
    )


def contribution(
    state: Mapping[str, Any] | None, partition: int, partitions: int, dumps: Any
) -> str:
    """What a source gives one partition: ``target\\tevent_id\\tjson`` lines."""
    lines = []
    for link in given(state):
        target = link.pop("target")
        if partition_of(target, partitions) == partition:
            lines.append(f"{target}\t{link['event_id']}\t{dumps(link)}")
    return "\n".join(lines)


#: Lua: replace what each source gives this partition. ``args[first..]``: ``count`` pairs
#: of source id and ``contribution`` text.
APPLY_LINKS = """
local function apply_links(prefix, args, first, count)
  for i = first, first + 2 * count - 1, 2 do
    local given = prefix .. 'lo:' .. args[i]
    local old = redis.call('GET', given)
    if old then
      for target, id in string.gmatch(old, '([^\\t\\n]+)\\t([^\\n]+)') do
        redis.call('HDEL', prefix .. 'li:' .. target, id)
      end
    end
    local kept = {}
    local line = '([^\\t\\n]+)\\t([^\\t\\n]+)\\t([^\\n]+)'
    for target, id, record in string.gmatch(args[i + 1], line) do
      redis.call('HSET', prefix .. 'li:' .. target, id, record)
      kept[#kept + 1] = target .. '\\t' .. id
    end
    if #kept == 0 then
      redis.call('DEL', given)
    else
      redis.call('SET', given, table.concat(kept, '\\n'))
    end
  end
end
"""


def inbound_links(values: Sequence[Any]) -> list[dict[str, Any]]:
    """Other claims' links to a claim (``li:`` hash values), oldest first."""
    links = [json.loads(text(v) or "null") for v in values]
    return sorted(links, key=inbound_order)


def with_inbound(state: dict[str, Any], values: Sequence[Any]) -> dict[str, Any]:
    """A claim's state with ``linked_from`` (other claims' links to it) when it has any."""
    if values:
        state["linked_from"] = inbound_links(values)
    return state


def linked_claims(
    redis: Redis, part: Callable[[str], PartitionKeys], claim_id: str, names: set[str],
    bounds: tuple[str, str], brief: bool,
) -> list[tuple[str, dict[str, Any]]] | None:
    """The claims linked to or from ``claim_id`` that match ``names`` within the list's
    ``bounds`` (``(upper, lower)`` as ``ZRANGE BYLEX`` takes them), as ``(member, claim)``
    newest update first; None when the generation is gone."""
    upper, lower = bounds
    pipe = redis.pipeline(transaction=False)
    # the recent state has every link but only the latest entries: the same size however
    # long the claim (its full state is read only from views kept before recent states)
    pipe.hget(part(claim_id).claim(claim_id), "recent")
    pipe.hvals(part(claim_id).linked_from(claim_id))
    pipe.exists(part(claim_id).checkpoint)
    state, inbound, alive = pipe.execute()
    if not alive:
        return None
    if state is None:
        state = redis.hget(part(claim_id).claim(claim_id), "state")
    others = {link["claim_id"] for link in inbound_links(inbound)}
    if state is not None:
        others |= {link["target"] for link in given(json.loads(text(state) or "null"))}
    others.discard(claim_id)
    ordered = sorted(others)
    pipe = redis.pipeline(transaction=False)
    fields = ("summary", "member", "attrs", "state") if brief else ("state", "member")
    for other in ordered:
        pipe.hmget(part(other).claim(other), *fields)
    rows: list[tuple[str, dict[str, Any]]] = []
    for found, stored, *rest in pipe.execute():
        m = text(stored)
        if found is None or m is None:
            continue
        if (upper != "+" and m >= upper[1:]) or (lower != "-" and m <= lower[1:]):
            continue
        claim = json.loads(text(found) or "null")
        if brief and rest[0]:
            wanted = matches_attributes(set((text(rest[0]) or "").split("\n")), names)
        elif brief:
            wanted = matches(json.loads(text(rest[1]) or "null"), names)
        else:
            wanted = matches(claim, names)
        if wanted:
            rows.append((m, claim))
    rows.sort(key=lambda row: row[0], reverse=True)
    return rows
