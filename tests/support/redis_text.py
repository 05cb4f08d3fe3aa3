"""Every key of a Redis database and everything in it, as text: what a redaction test
searches for the redacted text (key names included: index names are built from payloads)."""

from __future__ import annotations

from redis import Redis


def _text(value: bytes | str | float | int) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def redis_dump(redis: Redis) -> dict[str, str]:
    """Every key (SCANned, any type) and its whole content, flattened to text."""
    found: dict[str, str] = {}
    for raw in redis.scan_iter(count=1000):
        key = _text(raw)
        kind = _text(redis.type(raw))
        if kind == "string":
            content: list[bytes | str | float | int] = [redis.get(raw) or b""]
        elif kind == "hash":
            content = [part for pair in redis.hgetall(raw).items() for part in pair]
        elif kind == "zset":
            content = [m for m, _ in redis.zrange(raw, 0, -1, withscores=True)]
        elif kind == "list":
            content = list(redis.lrange(raw, 0, -1))
        elif kind == "set":
            content = list(redis.smembers(raw))
        elif kind == "stream":
            content = [str(entry) for entry in redis.xrange(raw)]
        else:
            content = [kind]
        found[key] = "\n".join(_text(part) for part in content)
    return found


def keys_holding(redis: Redis, secret: str) -> list[str]:
    """The keys whose name or content holds ``secret``."""
    return sorted(key for key, content in redis_dump(redis).items()
                  if secret in key or secret in content)
