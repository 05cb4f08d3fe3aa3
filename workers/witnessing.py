"""Sending the log's checkpoints to its witnesses: an RQ job per witness, on its own queue.

The job sends the latest stored checkpoint to one witness with a consistency proof from
the largest size that witness cosigned before (``old``), checks the cosignature it
answers with against the witness's key, and stores it. A witness that says 409 knows
another size: the job asks again from that size once. A witness that is down or
answers otherwise fails the job, which RQ retries later; appends never wait for any
of this.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from rq import Queue, Retry
from rq.job import JobStatus

from ledger import witnessed
from ledger.checkpoint import CheckpointError
from ledger.cosignature import verify_cosignatures
from ledger.errors import LedgerError
from ledger.store import EventStore, open_store
from ledger.store.cosignatures import StoredCosignature
from ledger.timeutil import format_time, utcnow

log = logging.getLogger(__name__)

#: the queue witnessing jobs run on (``claimledger worker`` listens to it)
WITNESS_QUEUE = "claimledger-witness"
#: retries of a witness that is down or refuses: seconds between attempts
RETRY_INTERVALS = [1, 2, 5, 10, 30, 60, 120, 300]
#: seconds to wait for a witness's answer
TIMEOUT = 10.0

#: job states in which a queued send has yet to read the latest checkpoint
_WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)

#: ``post(url, body) -> (status, content_type, body)``
Post = Callable[[str, bytes], tuple[int, str, bytes]]


class WitnessingError(LedgerError):
    """A witness did not cosign (down, refusing, or answering something unusable)."""


def http_post(url: str, body: bytes) -> tuple[int, str, bytes]:
    """POST ``body`` to ``url`` (urllib); any HTTP status is returned, not raised."""
    if not url.startswith(("http://", "https://")):
        raise WitnessingError(f"a witness URL is http(s), not {url!r}")
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - scheme checked
    request.add_header("Content-Type", "text/plain; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessingError(f"cannot reach the witness at {url}: {exc}") from None


def request_body(store: EventStore, old: int, size: int, note: str) -> bytes:
    """An ``add-checkpoint`` body from ``old`` to the checkpoint ``note`` of ``size``."""
    proof = store.consistency_proof(old, size).proof if 0 < old < size else []
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def witness_latest(
    store: EventStore, target: witnessed.WitnessTarget, post: Post = http_post
) -> int:
    """Have ``target`` cosign the latest checkpoint; returns its size (0: nothing to do)."""
    latest = store.latest_checkpoint()
    if latest is None:
        return 0
    key_id = target.key.key_id.hex()
    old = store.witnessed_size(target.key.name, key_id)
    if old >= latest.size:
        return 0  # cosigned already (or a larger one: the witness cannot go back)
    note = latest.note
    for _ in range(2):
        status, content_type, body = post(
            target.add_checkpoint_url, request_body(store, old, latest.size, note)
        )
        if status == 409 and content_type.startswith("text/x.tlog.size"):
            try:
                known = int(body.decode("ascii").strip())
            except ValueError:
                raise WitnessingError("the witness's 409 does not hold a size") from None
            if known > latest.size:
                log.info("witness %s is at %d, past %d", target.key.name, known, latest.size)
                return 0
            old = known
            continue
        break
    if status != 200:
        text = body[:200].decode("utf-8", "replace").strip()
        raise WitnessingError(f"witness {target.key.name} answered {status}: {text}")
    lines = body.decode("utf-8", "replace")
    try:
        found = verify_cosignatures(witnessed.with_cosignatures(note, lines.splitlines()),
                                    [target.key])
    except CheckpointError:
        found = {}
    cosignature = found.get(target.key.name)
    if cosignature is None:
        raise WitnessingError(f"witness {target.key.name} sent no valid cosignature")
    store.add_cosignature(
        StoredCosignature(latest.size, target.key.name, key_id, cosignature.timestamp,
                          cosignature.line.rstrip("\n"), format_time(utcnow()))
    )
    return latest.size


def send_checkpoint(database_url: str, witness: str) -> int:
    """RQ job: have the witness ``KEY@URL`` cosign the latest checkpoint of the store."""
    [target] = witnessed.parse_witnesses([witness])
    store = open_store(database_url)
    try:
        return witness_latest(store, target)
    finally:
        store.close()


def enqueue_witnessing(queue: Queue, database_url: str, witnesses: Sequence[str]) -> None:
    """One job per witness, retried on failure; none while one is still waiting to run."""
    redis = queue.connection
    for witness in witnesses:
        marker = "claimledger:witness-job:" + hashlib.sha256(witness.encode()).hexdigest()[:32]
        pending = redis.get(marker)
        if pending is not None:
            job = queue.fetch_job(pending.decode() if isinstance(pending, bytes) else pending)
            if job is not None and job.get_status(refresh=False) in _WAITING:
                continue  # it reads the latest checkpoint when it runs
        job = queue.enqueue(
            send_checkpoint, database_url, witness,
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
            result_ttl=60, failure_ttl=3600,
        )
        redis.set(marker, job.id, ex=3600)
