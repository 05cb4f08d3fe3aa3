"""Configuration: every setting from one environment variable with a documented default."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


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


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


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


@dataclass(frozen=True)
class Settings:
    """The ledger's configuration (see docs/operations.md for every variable)."""

    data_dir: Path
    database_url: str
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
    max_import_bytes: int = 64 * 1024 * 1024
    max_import_events: int = 100_000
    #: how many partitions the views' projection work is spread over (LEDGER_PARTITIONS)
    partitions: int = 1
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from the environment; raises ``ConfigError`` on a bad value."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("LEDGER_DATA_DIR") or "var")
        database_url = env.get("LEDGER_DATABASE_URL") or f"sqlite:///{data_dir / 'ledger.db'}"
        if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError("LEDGER_DATABASE_URL must start with sqlite:/// or postgresql://")
        values: dict[str, Any] = {
            "data_dir": data_dir,
            "database_url": database_url,
            "redis_url": env.get("LEDGER_REDIS_URL") or "redis://127.0.0.1:6379/0",
            "signing_key": Path(env.get("LEDGER_SIGNING_KEY") or data_dir / "signing.key"),
            "log_origin": env.get("LEDGER_LOG_ORIGIN") or "claimledger.local/log",
            "public_read": _flag(env, "LEDGER_PUBLIC_READ", False),
            "scales_file": env.get("LEDGER_SCALES_FILE") or None,
            "max_body_bytes": _int(env, "LEDGER_MAX_BODY_BYTES", 1024 * 1024, 1024),
            "actor": env.get("LEDGER_ACTOR") or f"cli:{_user()}",
            "rate_limit": _rate_limit(env, "LEDGER_RATE_LIMIT", "50/second"),
            "rate_limit_storage": env.get("LEDGER_RATE_LIMIT_STORAGE") or "memory://",
            "max_import_bytes": _int(env, "LEDGER_MAX_IMPORT_BYTES", 64 * 1024 * 1024, 1024),
            "max_import_events": _int(env, "LEDGER_MAX_IMPORT_EVENTS", 100_000, 1),
            "partitions": _int(env, "LEDGER_PARTITIONS", 1, 1),
            "secret_key": env.get("LEDGER_SECRET_KEY") or None,
            "cookie_secure": _flag(env, "LEDGER_COOKIE_SECURE", False),
            "review_author": env.get("LEDGER_REVIEW_AUTHOR") or "claim ledger",
            "review_author_url": env.get("LEDGER_REVIEW_AUTHOR_URL") or None,
            "public_url": (env.get("LEDGER_PUBLIC_URL") or "").rstrip("/") or None,
            "stream_max_seconds": _int(env, "LEDGER_STREAM_MAX_SECONDS", 25, 1),
            "stream_heartbeat_seconds": _int(env, "LEDGER_STREAM_HEARTBEAT_SECONDS", 10, 1),
        }
        known = {f.name for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if k in known and v is not None})
        return cls(**values)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
