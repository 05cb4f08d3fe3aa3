"""Purging a redacted payload from the views: what ``claimledger redact`` does after the store.

Once the store has deleted a payload, ``purge_claim`` refolds the claim from the log
into every generation of the views that may hold it (the live one, one being rebuilt,
an old one waiting to be dropped). A first Lua script moves each partition's redaction
marker: a batch folded before that, perhaps from a projector's cached stream still
holding the text, carries the old marker and is refused (that projector drops its cache
and folds again from the log), so from then on only text-free batches apply. It also
notes each partition's checkpoint and the claim's record at that instant. A second
script then rewrites, in one step, every record no batch rewrote since, folded as of the
noted checkpoint, with the projector's own ``APPLY_CLAIMS`` (so a claimant, outlet or
tag known only from the payload leaves its index set, and an emptied set is gone), and
counts the purge in ``{ns}:redactions``. Neither script waits on the workers, and
neither can be starved by them. A claim that links others is then given again to every
partition (``relink``): a redacted link leaves the claim it named.

Each script call touches one partition of one generation (keys sharing one ``{pN}``
hash tag, declared through that partition's checkpoint key), so both work on a Redis
Cluster; a partition's marker and record are all a purge needs to be atomic about.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from redis import Redis

from ledger.envelope import RecordedEvent
from ledger.fold import fold
from ledger.scales import Scales
from ledger.store import EventStore

from .config import Keys, partition_of, text
from .coordination import read_pointer
from .links import APPLY_LINKS, contribution
from .projector import APPLY_CLAIMS, ENTRY_FIELDS, dumps, entry_args

#: Phase one, KEYS: the checkpoint key of the first partition (it routes the call on a
#: cluster; every prefix of one call shares its slot). ARGV: the claim id, then the key
#: prefixes of its partitions. Moves the
#: redaction marker of every partition with a checkpoint (so no batch folded before this
#: moment applies any more) and answers, read at that same instant, each partition's
#: checkpoint and the SHA-1 of the claim's record ('' for none).
MARK = """
local out = {}
for t = 2, #ARGV do
  local cp = redis.call('GET', ARGV[t] .. 'cp')
  if cp then redis.call('INCR', ARGV[t] .. 'rx') end
  local state = redis.call('HGET', ARGV[t] .. 'c:' .. ARGV[1], 'state')
  out[#out + 1] = cp or ''
  out[#out + 1] = state and redis.sha1hex(state) or ''
end
return out
"""

#: Phase two, KEYS as in phase one. ARGV: the number of partitions, the number of
#: ``entry_args`` fields, then
#: per partition its prefix, its checkpoint and record SHA-1 from phase one, and the
#: claim's ``entry_args`` folded as of that checkpoint. A record a batch rewrote since
#: phase one is left alone (that batch folded the log after the marker moved, without
#: the payload); every other one is written. Answers per partition: whether the record
#: existed, whether it was written, the index sets it left.
PURGE = APPLY_CLAIMS + """
local n, f = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for t = 0, n - 1 do
  local at = 3 + t * (3 + f)
  local prefix, cp, sha = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local key = prefix .. 'c:' .. ARGV[at + 3]
  local state = redis.call('HGET', key, 'state')
  local now = state and redis.sha1hex(state) or ''
  out[#out + 1] = state and '1' or '0'
  if cp == '' or now == sha then
    local claim = {}
    for k = 0, f - 1 do claim[#claim + 1] = ARGV[at + 3 + k] end
    out[#out + 1] = '1'
    out[#out + 1] = table.concat(apply_claims(prefix, claim, 1), '\\n')
  else
    out[#out + 1] = '0'
    out[#out + 1] = ''
  end
end
return out
"""

_PREFIX = re.compile(r".*:g(\d+):\{p(\d+)\}:$")


@dataclass(frozen=True)
class PurgedPartition:
    """What a purge did to one partition of one generation."""

    generation: int
    partition: int
    #: ``rewritten`` (folded again without the payload), ``deleted`` (the claim is not
    #: in this generation up to its checkpoint), ``absent`` (it held no record) or
    #: ``refolded`` (a worker folded it again from the log meanwhile)
    outcome: str
    #: how many index sets the claim left (their names may hold the redacted text)
    indexes_left: int
    checked: bool


@dataclass(frozen=True)
class Purged:
    """What ``purge_claim`` did: every partition it wrote, and the purge counter."""

    claim_id: str
    partitions: list[PurgedPartition]
    redactions: int


def _glob(value: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", value)


def targets(redis: Redis, keys: Keys, claim_id: str) -> list[str]:
    """Key prefixes of every partition that may hold the claim, in any generation."""
    found: dict[str, None] = {}
    live = read_pointer(redis, keys)
    building = text(redis.get(keys.building))
    for generation, partitions in (
        [(live.generation, live.partitions)] if live is not None else []
    ) + ([_building(building)] if building else []):
        found[keys.part(generation, partition_of(claim_id, partitions)).prefix] = None
    pattern = _glob(keys.ns) + ":g*:c:" + claim_id
    for key in redis.scan_iter(match=pattern, count=1000):
        name = text(key) or ""
        found[name[: -len("c:" + claim_id)]] = None
    return list(found)


#: KEYS[1] a partition's checkpoint; ARGV: its prefix, the checkpoint the contribution was
#: folded at, the claim, its ``workers.links.contribution``: written only if still there
RELINK = APPLY_LINKS + """
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
apply_links(ARGV[1], ARGV, 3, 1)
return 1
"""


def relink(
    redis: Redis, store: EventStore, claim_id: str, events: list[RecordedEvent], *,
    keys: Keys, scales: Scales,
) -> int:
    """What a claim that links gives every partition of every generation, folded again as of
    each partition's checkpoint (a redacted ``ClaimLinked`` gives nothing); how many
    partitions were written. A partition whose checkpoint moves meanwhile is folded again."""
    if not any(e.type == "ClaimLinked" for e in events):
        return 0
    live = read_pointer(redis, keys)
    building = text(redis.get(keys.building))
    generations = ([(live.generation, live.partitions)] if live is not None else []) + (
        [_building(building)] if building else [])
    script = redis.register_script(RELINK)
    written = 0
    for generation, partitions in generations:
        for partition in range(partitions):
            pk = keys.part(generation, partition)
            for _ in range(50):
                cp = text(redis.get(pk.checkpoint))
                if cp is None:
                    break
                state = fold([e for e in events if e.position <= int(cp)], scales)
                given = contribution(state, partition, partitions, dumps)
                if script(keys=[pk.checkpoint], args=[pk.prefix, cp, claim_id, given]):
                    written += 1
                    break
    return written


def _building(raw: str) -> tuple[int, int]:
    data = json.loads(raw)
    return int(data["generation"]), int(data["partitions"])


def purge_claim(
    redis: Redis, store: EventStore, claim_id: str, *, keys: Keys, scales: Scales
) -> Purged:
    """Refold a claim from the log into every generation of the views that may hold it.

    Call it after the store redacted one of the claim's payloads. Two atomic scripts:
    the first moves the markers (from then on only batches folded from the redacted log
    apply) and notes each record; the second rewrites, in one step, every record no
    such batch has rewritten meanwhile, folded as of the checkpoint it was noted at.
    Redis errors are raised as they come: the views may then still hold the text.
    """
    claim_id = str(uuid.UUID(claim_id))
    prefixes = targets(redis, keys, claim_id)
    mark, purge = redis.register_script(MARK), redis.register_script(PURGE)
    marked: list[str] = []
    for prefix in prefixes:  # one partition (one slot) per call
        marked += [text(v) or "" for v in mark(keys=[prefix + "cp"], args=[claim_id, prefix])]
    events = store.read_claim(claim_id)
    folded: list[bool] = []
    replies: list[str] = []
    for i, prefix in enumerate(prefixes):
        cp, sha = marked[2 * i], marked[2 * i + 1]
        state = fold([e for e in events if e.position <= int(cp)], scales) if cp else None
        args: list[str | int] = [1, ENTRY_FIELDS, prefix, cp, sha, *entry_args(claim_id, state)]
        replies += [text(v) or "" for v in purge(keys=[prefix + "cp"], args=args)]
        folded.append(state is not None)
    relink(redis, store, claim_id, events, keys=keys, scales=scales)
    replies.append(str(redis.incr(keys.redactions)))
    parts = []
    for i, prefix in enumerate(prefixes):
        had, written, left = replies[3 * i: 3 * i + 3]
        match = _PREFIX.match(prefix)
        generation, partition = (int(match[1]), int(match[2])) if match else (-1, -1)
        if written != "1":
            outcome = "refolded"
        elif folded[i]:
            outcome = "rewritten"
        else:
            outcome = "deleted" if had == "1" else "absent"
        parts.append(PurgedPartition(generation, partition, outcome,
                                     len([n for n in left.split("\n") if n]),
                                     marked[2 * i] != ""))
    return Purged(claim_id, parts, int(replies[-1]))
