"""Configuration of the projections, the Redis key layout of the views, and connections.

Every view key of a generation ``g`` and partition ``p`` starts with
``{namespace}:g{g}:{p{p}}:`` so a whole partition lives in one Redis Cluster slot
(the ``{pN}`` hash tag) and a whole generation can be found by prefix. Every command
and script that names several keys names keys of one partition only (or goes through
``mget``, which splits by slot on a cluster).

The views may live on a Redis Cluster (``redis+cluster://host:port,host:port``) while
RQ's queues stay on a standalone Redis: ``connect_views`` answers the views' client
with the queues' client attached, and ``queue_of`` finds it again wherever a job is
enqueued or looked up.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

#: queue of catch-up and tick jobs
QUEUE = "claimledger"
#: queue of rebuild and generation-drop jobs (long running)
REBUILD_QUEUE = "claimledger-rebuild"


@dataclass(frozen=True)
class ViewConfig:
    """What a projection job needs to know; passed to every job as a plain dict."""

    database_url: str
    partitions: int = 1
    scales_file: str | None = None
    namespace: str = "cl"
    batch_size: int = 2000
    rebuild_batch_size: int = 5000
    lock_ttl: float = 10.0
    tick_interval: float = 5.0
    drop_delay: float = 10.0
    cache_events: int = 200_000
    linger: float = 2.0
    linger_max: float = 60.0
    #: longest wait between a worker's attempts while Redis refuses its commands
    backoff_max: float = 30.0
    #: whether the catch-up jobs also keep the search index (``workers.search``)
    search: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for RQ job arguments)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewConfig:
        """Rebuild a config from ``to_dict`` output, ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def tuned_by(self, other: ViewConfig) -> ViewConfig:
        """This config (what to project) with ``other``'s tuning (how to run)."""
        return replace(self, **{name: getattr(other, name) for name in TUNING_FIELDS})

    @property
    def keys(self) -> Keys:
        """The key layout for this namespace."""
        return Keys(self.namespace)


#: settings about how jobs run (a worker's own win over the enqueuer's)
TUNING_FIELDS = (
    "batch_size", "rebuild_batch_size", "lock_ttl", "tick_interval", "drop_delay",
    "cache_events", "linger", "linger_max", "backoff_max",
)


def partition_of(claim_id: str, partitions: int) -> int:
    """The partition of a claim: a stable hash (CRC-32) of its id."""
    if partitions <= 1:
        return 0
    return zlib.crc32(claim_id.encode("utf-8")) % partitions


class Keys:
    """Names of every Redis key the views use."""

    def __init__(self, namespace: str = "cl") -> None:
        self.ns = namespace

    @property
    def pointer(self) -> str:
        """JSON ``{generation, partitions, switched_at}`` of the live generation."""
        return f"{self.ns}:live"

    @property
    def generation_seq(self) -> str:
        """Counter handing out generation numbers."""
        return f"{self.ns}:genseq"

    @property
    def rebuild_lock(self) -> str:
        """Held (value: the RQ job id) while a rebuild runs."""
        return f"{self.ns}:rebuild"

    @property
    def building(self) -> str:
        """JSON ``{generation, partitions, job_id}`` of the generation being built."""
        return f"{self.ns}:building"

    @property
    def redactions(self) -> str:
        """Counter of the redactions purged from the views (``workers.purge``)."""
        return f"{self.ns}:redactions"

    @property
    def probe(self) -> str:
        """Written (and expiring) by readiness checks: does Redis accept a write?"""
        return f"{self.ns}:probe"

    @property
    def stats(self) -> str:
        """Hash of counters: jobs enqueued by kind, batches and events applied."""
        return f"{self.ns}:stats"

    def generation_prefix(self, generation: int) -> str:
        """The prefix shared by every key of a generation."""
        return f"{self.ns}:g{generation}:"

    def part(self, generation: int, partition: int) -> PartitionKeys:
        """The keys of one partition of one generation."""
        return PartitionKeys(f"{self.ns}:g{generation}:{{p{partition}}}:")

    def pending(self, partition: int) -> str:
        """Set (value: job id) while a catch-up job for the partition is queued or running."""
        return f"{self.ns}:pending:{{p{partition}}}"

    def wake(self, partition: int) -> str:
        """A list a trigger pushes to, waking a catch-up job that lingers at the head."""
        return f"{self.ns}:wake:{{p{partition}}}"

    def tick_job_id(self, slot: int) -> str:
        """The RQ job id of the tick due in a time slot (so each slot ticks once)."""
        return f"{self.ns}-tick-{slot}"


class PartitionKeys:
    """Keys of one partition of one generation; all share one hash tag."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def checkpoint(self) -> str:
        """The last log position applied to this partition (absent: no such generation)."""
        return self.prefix + "cp"

    @property
    def redactions(self) -> str:
        """The partition's redaction marker: moved by every purge, checked by every batch."""
        return self.prefix + "rx"

    @property
    def lock(self) -> str:
        """Held by the one job applying batches to this partition."""
        return self.prefix + "lock"

    def claim(self, claim_id: str) -> str:
        """Hash ``{state, member, index}`` of one claim."""
        return self.prefix + "c:" + claim_id

    def index(self, name: str) -> str:
        """A lexicographic sorted set of ``updated_at|claim_id`` members."""
        return self.prefix + "i:" + name

    def linked_from(self, claim_id: str) -> str:
        """Hash of link event id → JSON: other claims' active links to one (``workers.links``)."""
        return self.prefix + "li:" + claim_id


def text(value: bytes | str | None) -> str | None:
    """A Redis reply as text (works with and without ``decode_responses``)."""
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else value


def connect(url: str, *, timeout: float = 5.0) -> Redis:
    """A Redis client that fails fast when Redis is down (bytes replies, as RQ needs)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=min(timeout, 1.0),
        socket_timeout=timeout,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
    )


#: the scheme of a views URL naming Redis Cluster nodes (``redis+cluster://h:p,h:p``)
CLUSTER_SCHEME = "redis+cluster"


def is_cluster_url(url: str) -> bool:
    """Whether a URL names a Redis Cluster (``redis+cluster://…``)."""
    return url.split("://", 1)[0].lower() == CLUSTER_SCHEME


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """The start-up nodes, user and password of a ``redis+cluster://`` URL.

    ``redis+cluster://[user:password@]host:port[,host:port…]``; raises ``ValueError``.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != CLUSTER_SCHEME:
        raise ValueError(f"not a {CLUSTER_SCHEME}:// URL")
    credentials, _, hosts = parts.netloc.rpartition("@")
    user, _, password = credentials.partition(":") if credentials else ("", "", "")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{item!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    if parts.path.strip("/") not in ("", "0"):
        raise ValueError("a Redis Cluster has only database 0")
    return nodes, unquote(user) or None, unquote(password) or None


def connect_views(url: str, *, queue: Redis | None = None, timeout: float = 5.0,
                  connect_timeout: float = 1.0) -> Redis:
    """The views' client: a ``RedisCluster`` for ``redis+cluster://``, else a ``Redis``.

    ``queue`` is the client of RQ's queues (it must be given for a cluster); without
    it the views' own client serves the queues too. A cluster client is typed as a
    ``Redis``: the views use only commands both clients share.
    """
    if is_cluster_url(url):
        if queue is None:
            raise ValueError("views on a Redis Cluster need a standalone Redis for the queues")
        nodes, user, password = cluster_nodes(url)
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(host, port)  # type: ignore[no-untyped-call]
                           for host, port in nodes],
            username=user, password=password,
            socket_connect_timeout=min(timeout, connect_timeout), socket_timeout=timeout,
        )
        views = cast(Redis, cluster)
    else:
        views = connect(url, timeout=timeout)
    if queue is not None and queue is not views:
        views.claimledger_queue = queue  # type: ignore[attr-defined]
    return views


def queue_of(redis: Redis) -> Redis:
    """The client of RQ's queues that goes with a views client (itself when standalone)."""
    found = getattr(redis, "claimledger_queue", None)
    return redis if found is None else cast(Redis, found)


def is_cluster(redis: Any) -> bool:
    """Whether a client talks to a Redis Cluster."""
    return isinstance(redis, RedisCluster)


def mget(redis: Redis, keys: list[str]) -> list[Any]:
    """MGET that also works when the keys span cluster slots (split per slot there)."""
    if not keys:
        return []
    if is_cluster(redis):
        return list(cast(RedisCluster, redis).mget_nonatomic(keys))
    return list(redis.mget(keys))
