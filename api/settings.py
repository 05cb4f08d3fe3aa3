"""Configuration: every setting from one environment variable with a documented default.

This is the only module that reads ``LEDGER_*`` variables; everything else is handed a
``Settings`` (workers get a ``workers.config.ViewConfig`` built from it). Every value is
checked here, so a bad one stops any ``claimledger`` command at start-up with one line.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workers.config import ViewConfig, cluster_nodes, is_cluster_url


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 0 or 1, not {raw!r}")


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, not {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, positive: bool = False) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not (value > 0 if positive else value >= 0) or value == float("inf"):
        bound = "greater than 0" if positive else "at least 0"
        raise ConfigError(f"{name} must be a finite number {bound}, not {raw!r}")
    return value


def _text(env: Mapping[str, str], name: str, default: str | None, spaces: bool = True) -> Any:
    """A one-line printable value (``spaces=False``: no whitespace at all)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isprintable() or (not spaces and any(c.isspace() for c in raw)):
        what = "one word" if not spaces else "one line of printable text"
        raise ConfigError(f"{name} must be {what}, not {raw!r}")
    return raw


def _url(env: Mapping[str, str], name: str, default: str | None, schemes: tuple[str, ...]) -> Any:
    raw = _text(env, name, None, spaces=False)
    if raw is None:
        return default
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL: {raw!r}") from None
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(f"{name} must be a {' or '.join(s + '://' for s in schemes)} URL")
    return raw


def _views_url(env: Mapping[str, str], name: str) -> str:
    """A standalone Redis URL, or ``redis+cluster://[user:password@]host:port,…``."""
    raw = _text(env, name, None, spaces=False)
    if raw is not None and is_cluster_url(raw):
        try:
            cluster_nodes(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc} (redis+cluster://host:port,host:port)") from None
        return str(raw)
    return str(_url(env, name, "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix")))


def _queue_url(env: Mapping[str, str], name: str, views_name: str) -> str | None:
    """RQ's queues: a standalone Redis; by default the views' one, which a cluster is not."""
    views = _views_url(env, views_name)
    raw = _text(env, name, None, spaces=False)
    if raw is None:
        if is_cluster_url(views):
            raise ConfigError(
                f"{views_name} is a Redis Cluster: set {name} to a standalone Redis"
                " (redis://…) for the job queues, which RQ cannot keep on a cluster"
            )
        return None  # the views' Redis
    if is_cluster_url(raw):
        raise ConfigError(f"{name} must be a standalone Redis (redis://…): RQ's queues"
                          " cannot live on a Redis Cluster")
    return str(_url(env, name, views, ("redis", "rediss", "unix")))


def _origins(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated browser origins (``https://host[:port]``), each exactly as sent."""
    found = []
    for raw in (env.get(name) or "").split(","):
        origin = raw.strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ConfigError(f"{name} lists origins like https://desk.example.org, not {raw!r}")
        found.append(origin)
    return tuple(found)


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in ("0", "off", "none", "false"):
        return None
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must look like '50/second;1000/minute' or 'off', not {raw!r}"
        ) from None
    return raw.strip()


#: the synchronous storage schemes of the ``limits`` package
_LIMITS_SCHEMES = (
    "memory", "redis", "rediss", "redis+unix", "redis+cluster", "redis+sentinel", "valkey",
    "valkeys", "valkey+unix", "valkey+cluster", "valkey+sentinel", "memcached", "mongodb",
    "mongodb+srv",
)


def _rate_limit_storage(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name) or "memory://"
    if "://" not in raw or raw.split("://", 1)[0] not in _LIMITS_SCHEMES:
        raise ConfigError(f"{name} must be memory:// or redis://…, not {raw!r}")
    return raw


def _path(env: Mapping[str, str], name: str, default: Path, kind: str) -> Path:
    """A path that, if it exists, is a ``kind`` ("directory" or "file")."""
    path = Path(env.get(name) or default)
    if path.exists() and path.is_dir() != (kind == "directory"):
        raise ConfigError(f"{name} must name a {kind}, and {str(path)!r} is not one")
    return path


def _scales_file(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    from ledger.scales import load_scales

    try:
        load_scales(raw)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigError(f"{name}: cannot load {raw!r}: {detail}") from None
    return raw


def _origin(env: Mapping[str, str], name: str) -> str:
    from ledger.checkpoint import is_valid_key_name

    value = str(_text(env, name, "claimledger.local/log", spaces=False))
    if not is_valid_key_name(value):
        raise ConfigError(f"{name} must be one word without '+', not {value!r}")
    return value


def _verifier_key(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is None:
        return None
    from ledger.checkpoint import CheckpointError, parse_verifier_key

    try:
        parse_verifier_key(raw)
    except CheckpointError as exc:
        raise ConfigError(f"{name} is not a verifier key: {exc}") from None
    return raw


def _log_level(env: Mapping[str, str], name: str) -> str:
    raw = (env.get(name) or "INFO").upper()
    if raw not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{name} must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {raw!r}")
    return raw


def _secret(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None and (len(raw) < 16 or not raw.isprintable()):
        raise ConfigError(f"{name} must be at least 16 printable characters")
    return raw


def _witnesses(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    from ledger.checkpoint import CheckpointError
    from ledger.witnessed import parse_witnesses

    entries = tuple((env.get(name) or "").replace(",", " ").split())
    try:
        parse_witnesses(entries)
    except CheckpointError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return entries


def _witness_logs(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    from ledger.checkpoint import CheckpointError, parse_verifier_key

    entries = tuple((env.get(name) or "").replace(",", " ").split())
    for entry in entries:
        origin, sep, key = entry.partition("=")
        try:
            parse_verifier_key(key if sep and "+" not in origin else entry)
        except CheckpointError as exc:
            raise ConfigError(f"{name} lists [ORIGIN=]VERIFIER_KEY entries: {exc}") from None
    return entries


def _key_name(env: Mapping[str, str], name: str, default: str) -> str:
    from ledger.checkpoint import is_valid_key_name

    raw = env.get(name) or default
    if not is_valid_key_name(raw):
        raise ConfigError(f"{name} must be one word without '+', not {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    """The ledger's configuration (see docs/operations.md for every variable)."""

    data_dir: Path
    database_url: str
    #: the views' Redis: redis://… or a Redis Cluster, redis+cluster://host:port,…
    redis_url: str
    signing_key: Path
    log_origin: str
    public_read: bool
    scales_file: str | None
    max_body_bytes: int
    actor: str
    #: per-token request limits ("50/second;1000/minute"), None when rate limiting is off
    rate_limit: str | None = "50/second"
    #: where the rate limiter keeps its counters: memory:// (per process) or redis://…
    rate_limit_storage: str = "memory://"
    #: desk pages per principal (LEDGER_DESK_RATE_LIMIT), None when off
    desk_rate_limit: str | None = "10/second;300/minute"
    max_import_bytes: int = 64 * 1024 * 1024
    max_import_events: int = 100_000
    #: how many partitions the views' projection work is spread over (LEDGER_PARTITIONS)
    partitions: int = 1
    #: RQ's queues (LEDGER_QUEUE_REDIS_URL), a standalone Redis; None: ``redis_url``
    queue_redis_url: str | None = None
    #: signs the desk's session cookies (LEDGER_SECRET_KEY); None: generated under data_dir
    secret_key: str | None = field(default=None, repr=False)
    #: mark the desk's session cookie Secure (LEDGER_COOKIE_SECURE=1 behind HTTPS)
    cookie_secure: bool = False
    #: who publishes the ClaimReviews (LEDGER_REVIEW_AUTHOR, LEDGER_REVIEW_AUTHOR_URL)
    review_author: str = "claim ledger"
    review_author_url: str | None = None
    #: the public base URL of the API and desk (LEDGER_PUBLIC_URL), for links in exports
    public_url: str | None = None
    #: seconds an event stream stays open before its client reconnects (LEDGER_STREAM_MAX_SECONDS)
    stream_max_seconds: int = 25
    #: seconds between heartbeats on an idle event stream (LEDGER_STREAM_HEARTBEAT_SECONDS)
    stream_heartbeat_seconds: int = 10
    #: live streams one token (or anonymous client address) may hold open (LEDGER_STREAM_LIMIT)
    stream_limit: int = 8
    #: serve live streams from each worker's stream hub thread (LEDGER_STREAM_HUB, default on)
    stream_hub: bool = True
    #: seconds between checkpoints issued after appends; 0: after every append
    checkpoint_interval: float = 1.0
    #: the views' tuning (LEDGER_VIEWS_*): tick, lock lifetime, drop delay and linger in
    #: seconds, batch in events; the defaults are the views' own (workers.config.ViewConfig)
    views_tick_seconds: float = ViewConfig.tick_interval
    views_batch: int = ViewConfig.batch_size
    views_lock_ttl: float = ViewConfig.lock_ttl
    views_linger: float = ViewConfig.linger
    views_drop_delay: float = ViewConfig.drop_delay
    #: longest wait between a worker's attempts while Redis refuses (LEDGER_VIEWS_BACKOFF_MAX)
    views_backoff_max: float = ViewConfig.backoff_max
    #: whether the workers keep the search index (LEDGER_SEARCH, default on)
    search: bool = ViewConfig.search
    #: level of the JSON logs on stderr, and whether the API logs one line per request
    log_level: str = "INFO"
    request_log: bool = True
    #: browser origins allowed to call the API cross-origin (LEDGER_CORS_ORIGINS); none: closed
    cors_origins: tuple[str, ...] = ()
    #: ``claimledger serve``'s defaults (LEDGER_HOST, LEDGER_PORT, LEDGER_WORKERS)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    #: ``claimledger verify``'s defaults for --token and --key
    token: str | None = field(default=None, repr=False)
    verifier_key: str | None = None
    #: witnesses each new checkpoint is sent to, ``KEY@URL`` each (LEDGER_WITNESSES)
    witnesses: tuple[str, ...] = ()
    #: ``claimledger witness``: its key file, key name, SQLite state and the logs it follows
    witness_key: Path = Path("var/witness.key")
    witness_name: str = "claimledger-witness"
    witness_db: Path = Path("var/witness.db")
    witness_logs: tuple[str, ...] = ()

    @property
    def queues_url(self) -> str:
        """Where RQ's queues (and the event-stream wake-ups) live: a standalone Redis."""
        return self.queue_redis_url or self.redis_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from the environment; raises ``ConfigError`` on a bad value."""
        env = os.environ if env is None else env
        data_dir = _path(env, "LEDGER_DATA_DIR", Path("var"), "directory")
        database_url = env.get("LEDGER_DATABASE_URL") or f"sqlite:///{data_dir / 'ledger.db'}"
        if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError("LEDGER_DATABASE_URL must start with sqlite:/// or postgresql://")
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": database_url,
            "redis_url": _views_url(env, "LEDGER_REDIS_URL"),
            "queue_redis_url": _queue_url(env, "LEDGER_QUEUE_REDIS_URL", "LEDGER_REDIS_URL"),
            "signing_key": _path(env, "LEDGER_SIGNING_KEY", data_dir / "signing.key", "file"),
            "log_origin": _origin(env, "LEDGER_LOG_ORIGIN"),
            "public_read": _flag(env, "LEDGER_PUBLIC_READ", False),
            "scales_file": _scales_file(env, "LEDGER_SCALES_FILE"),
            "max_body_bytes": _int(env, "LEDGER_MAX_BODY_BYTES", 1024 * 1024, 1024),
            "actor": _text(env, "LEDGER_ACTOR", f"cli:{_user()}"),
            "rate_limit": _rate_limit(env, "LEDGER_RATE_LIMIT", "50/second"),
            "rate_limit_storage": _rate_limit_storage(env, "LEDGER_RATE_LIMIT_STORAGE"),
            "desk_rate_limit": _rate_limit(env, "LEDGER_DESK_RATE_LIMIT", "10/second;300/minute"),
            "max_import_bytes": _int(env, "LEDGER_MAX_IMPORT_BYTES", 64 * 1024 * 1024, 1024),
            "max_import_events": _int(env, "LEDGER_MAX_IMPORT_EVENTS", 100_000, 1),
            "partitions": _int(env, "LEDGER_PARTITIONS", 1, 1),
            "secret_key": _secret(env, "LEDGER_SECRET_KEY"),
            "cookie_secure": _flag(env, "LEDGER_COOKIE_SECURE", False),
            "review_author": _text(env, "LEDGER_REVIEW_AUTHOR", "claim ledger"),
            "review_author_url": _url(env, "LEDGER_REVIEW_AUTHOR_URL", None, ("http", "https")),
            "public_url": (_url(env, "LEDGER_PUBLIC_URL", "", ("http", "https"))).rstrip("/")
            or None,
            "stream_max_seconds": _int(env, "LEDGER_STREAM_MAX_SECONDS", 25, 1),
            "stream_heartbeat_seconds": _int(env, "LEDGER_STREAM_HEARTBEAT_SECONDS", 10, 1),
            "stream_limit": _int(env, "LEDGER_STREAM_LIMIT", 8, 1, 10_000),
            "stream_hub": _flag(env, "LEDGER_STREAM_HUB", True),
            "checkpoint_interval": _seconds(env, "LEDGER_CHECKPOINT_INTERVAL", 1.0),
            "views_tick_seconds": _seconds(
                env, "LEDGER_VIEWS_TICK_SECONDS", cls.views_tick_seconds, positive=True
            ),
            "views_batch": _int(env, "LEDGER_VIEWS_BATCH", cls.views_batch, 1),
            "views_lock_ttl": _seconds(
                env, "LEDGER_VIEWS_LOCK_TTL", cls.views_lock_ttl, positive=True
            ),
            "views_linger": _seconds(env, "LEDGER_VIEWS_LINGER", cls.views_linger),
            "views_drop_delay": _seconds(env, "LEDGER_VIEWS_DROP_DELAY", cls.views_drop_delay),
            "views_backoff_max": _seconds(
                env, "LEDGER_VIEWS_BACKOFF_MAX", cls.views_backoff_max, positive=True
            ),
            "search": _flag(env, "LEDGER_SEARCH", cls.search),
            "log_level": _log_level(env, "LEDGER_LOG_LEVEL"),
            "request_log": _flag(env, "LEDGER_REQUEST_LOG", True),
            "cors_origins": _origins(env, "LEDGER_CORS_ORIGINS"),
            "host": _text(env, "LEDGER_HOST", "127.0.0.1", spaces=False),
            "port": _int(env, "LEDGER_PORT", 8000, 1, 65535),
            "workers": _int(env, "LEDGER_WORKERS", 2, 1, 64),
            "token": _text(env, "LEDGER_TOKEN", None, spaces=False),
            "verifier_key": _verifier_key(env, "LEDGER_VERIFIER_KEY"),
            "witnesses": _witnesses(env, "LEDGER_WITNESSES"),
            "witness_key": _path(env, "LEDGER_WITNESS_KEY", data_dir / "witness.key", "file"),
            "witness_name": _key_name(env, "LEDGER_WITNESS_NAME", "claimledger-witness"),
            "witness_db": _path(env, "LEDGER_WITNESS_DB", data_dir / "witness.db", "file"),
            "witness_logs": _witness_logs(env, "LEDGER_WITNESS_LOGS"),
        }
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if k in known and v is not None})
        return cls(**values)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
