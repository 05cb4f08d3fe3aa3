"""Purging a redacted payload from the views: what ``claimledger redact`` does after the store.

Once the store has deleted a payload, ``purge_claim`` refolds the claim from the log
into every generation of the views that may hold it (the live one, one being rebuilt,
an old one waiting to be dropped) and, in one Lua script, rewrites its record and its
index memberships with the projector's own ``APPLY_CLAIMS`` (so a claimant, outlet or
tag known only from the payload leaves its index set, and an emptied set is gone), moves
each partition's redaction marker and counts the purge in ``{ns}:redactions``. A batch
folded before the purge, perhaps from a projector's cached stream still holding the
text, carries the old marker and is refused; that projector drops its cache and folds
again from the log. Each generation's record is folded as of that partition's
checkpoint, and the script runs only if no checkpoint moved since it was read.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from redis import Redis

from ledger.fold import fold
from ledger.scales import Scales
from ledger.store import EventStore

from .config import Keys, partition_of, text
from .coordination import read_pointer
from .projector import APPLY_CLAIMS, entry_args

#: ARGV: the number of targets, then per target its key prefix, the checkpoint it was
#: folded at ('' for a generation being dropped: no check, no marker) and the claim's
#: seven ``entry_args``. Answers nil (writing nothing) if a checkpoint moved, else per
#: target: prefix, whether the record existed, the index sets it left; then the counter.
PURGE = APPLY_CLAIMS + """
local n = tonumber(ARGV[1])
for t = 0, n - 1 do
  local at = 2 + t * 9
  if ARGV[at + 1] ~= '' and redis.call('GET', ARGV[at] .. 'cp') ~= ARGV[at + 1] then
    return false
  end
end
local out = {}
for t = 0, n - 1 do
  local at = 2 + t * 9
  local prefix = ARGV[at]
  local had = redis.call('EXISTS', prefix .. 'c:' .. ARGV[at + 2])
  if ARGV[at + 1] ~= '' then redis.call('INCR', prefix .. 'rx') end
  local left = apply_claims(prefix, {ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], ARGV[at + 5],
                                     ARGV[at + 6], ARGV[at + 7], ARGV[at + 8]}, 1)
  out[#out + 1] = prefix
  out[#out + 1] = tostring(had)
  out[#out + 1] = table.concat(left, '\\n')
end
out[#out + 1] = tostring(redis.call('INCR', KEYS[1]))
return out
"""

_PREFIX = re.compile(r".*:g(\d+):\{p(\d+)\}:$")


class PurgeConflict(RuntimeError):
    """The views kept moving under every attempt; nothing was purged (try again)."""


@dataclass(frozen=True)
class PurgedPartition:
    """What a purge did to one partition of one generation."""

    generation: int
    partition: int
    #: ``rewritten`` (folded again without the payload), ``deleted`` (the claim is not
    #: in this generation up to its checkpoint) or ``absent`` (it held no record)
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


def _building(raw: str) -> tuple[int, int]:
    data = json.loads(raw)
    return int(data["generation"]), int(data["partitions"])


def purge_claim(
    redis: Redis, store: EventStore, claim_id: str, *, keys: Keys, scales: Scales,
    attempts: int = 50,
) -> Purged:
    """Refold a claim from the log into every generation of the views, atomically.

    Call it after the store redacted one of the claim's payloads. Raises
    ``PurgeConflict`` if checkpoints moved under every attempt, and Redis errors as they
    come: in both cases the views may still hold the text.
    """
    claim_id = str(uuid.UUID(claim_id))
    script = redis.register_script(PURGE)
    for _ in range(attempts):
        prefixes = targets(redis, keys, claim_id)
        cps = [text(v) for v in redis.mget([p + "cp" for p in prefixes])] if prefixes else []
        events = store.read_claim(claim_id)
        args: list[str | int] = [len(prefixes)]
        folded: list[bool] = []
        for prefix, cp in zip(prefixes, cps, strict=True):
            state = None
            if cp is not None:
                state = fold([e for e in events if e.position <= int(cp)], scales)
            args += [prefix, cp or "", *entry_args(claim_id, state)]
            folded.append(state is not None)
        answer = script(keys=[keys.redactions], args=args)
        if answer is None:
            continue
        replies = [text(v) or "" for v in answer]
        parts = []
        for i, (prefix, cp) in enumerate(zip(prefixes, cps, strict=True)):
            _, had, left = replies[3 * i: 3 * i + 3]
            match = _PREFIX.match(prefix)
            generation, partition = (int(match[1]), int(match[2])) if match else (-1, -1)
            outcome = "rewritten" if folded[i] else ("deleted" if had == "1" else "absent")
            parts.append(PurgedPartition(generation, partition, outcome,
                                         len([n for n in left.split("\n") if n]), cp is not None))
        return Purged(claim_id, parts, int(replies[-1]))
    raise PurgeConflict(f"the views of claim {claim_id} kept moving; nothing was purged")
