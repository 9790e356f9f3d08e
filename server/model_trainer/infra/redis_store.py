"""A typed face for the few Redis commands we use.

redis-py types most replies as `Any` (sync and async share one signature), so this module is
the boundary: it is exempt from `disallow_any_expr` in pyproject and checks every reply's
type before handing it on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from model_trainer.core.errors import AppError, ErrorCode

_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisUnavailable(AppError):
    """Redis did not answer; transient by nature, so jobs may retry."""

    def __init__(self, detail: str) -> None:
        # The client hears only that the queue is down; Redis's address and the driver's
        # words stay in the logs.
        super().__init__(
            ErrorCode.QUEUE_UNAVAILABLE, "the queue is unavailable (Redis does not answer)", detail
        )


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn redis-py's connection errors into `RedisUnavailable`, here and nowhere else."""
    try:
        yield
    except _DOWN as exc:
        raise RedisUnavailable(str(exc)) from exc


_REFRESH_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise TypeError(f"unexpected Redis reply type {type(value).__name__}")


class RedisStore:
    """String keys with TTLs, sorted-set indexes and pub/sub publish."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=10.0, health_check_interval=30
        )
        self._refresh = self.client.register_script(_REFRESH_IF_OWNER)
        self._release = self.client.register_script(_DELETE_IF_OWNER)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except _DOWN:
            return False

    def get(self, key: str) -> str | None:
        with translate_errors():
            return _text(self.client.get(key))

    def mget(self, keys: list[str]) -> list[str | None]:
        with translate_errors():
            if not keys:
                return []
            return [_text(v) for v in self.client.mget(keys)]

    def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        with translate_errors():
            if ttl_s is None:
                self.client.set(key, value)
            else:
                self.client.set(key, value, px=max(1, int(ttl_s * 1000)))

    def set_many(self, values: dict[str, str]) -> None:
        with translate_errors():
            if values:
                self.client.mset(values)

    def delete(self, *keys: str) -> None:
        with translate_errors():
            if keys:
                self.client.delete(*keys)

    def exists(self, key: str) -> bool:
        with translate_errors():
            return int(self.client.exists(key)) > 0

    def pttl_s(self, key: str) -> float | None:
        with translate_errors():
            """Remaining time to live in seconds, or None when the key is gone or has no TTL."""
            ms = int(self.client.pttl(key))
            return ms / 1000 if ms >= 0 else None

    def index_add(self, index: str, member: str, score: float) -> None:
        with translate_errors():
            self.client.zadd(index, {member: score})

    def index_newest(self, index: str, limit: int) -> list[str]:
        with translate_errors():
            return [t for t in (_text(v) for v in self.client.zrevrange(index, 0, limit - 1)) if t]

    def index_count_since(self, index: str, min_score: float) -> int:
        with translate_errors():
            return int(self.client.zcount(index, min_score, "+inf"))

    def index_members_since(self, index: str, min_score: float) -> list[str]:
        with translate_errors():
            found = self.client.zrangebyscore(index, min_score, "+inf")
            return [t for t in (_text(v) for v in found) if t]

    def index_remove(self, index: str, member: str) -> None:
        with translate_errors():
            self.client.zrem(index, member)

    def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool:
        with translate_errors():
            return bool(self.client.set(key, value, px=max(1, int(ttl_s * 1000)), nx=True))

    def refresh_if_owner(self, key: str, value: str, ttl_s: float) -> bool:
        """Extend `key`'s TTL only while it still holds `value` (a lease we own)."""
        with translate_errors():
            return bool(self._refresh(keys=[key], args=[value, max(1, int(ttl_s * 1000))]))

    def delete_if_owner(self, key: str, value: str) -> None:
        with translate_errors():
            self._release(keys=[key], args=[value])

    def incr(self, key: str) -> int:
        with translate_errors():
            return int(self.client.incr(key))

    def decr(self, key: str) -> int:
        with translate_errors():
            return int(self.client.decr(key))

    def set_add(self, key: str, member: str) -> None:
        with translate_errors():
            self.client.sadd(key, member)

    def set_remove(self, key: str, member: str) -> None:
        with translate_errors():
            self.client.srem(key, member)

    def set_members(self, key: str) -> list[str]:
        with translate_errors():
            return sorted(t for t in (_text(v) for v in self.client.smembers(key)) if t)

    def list_push_capped(self, key: str, value: str, keep: int, ttl_s: float) -> None:
        """Append to a list, keep only its last `keep` items and set its TTL, at once."""
        with translate_errors():
            pipe = self.client.pipeline(transaction=True)
            pipe.rpush(key, value)
            pipe.ltrim(key, -keep, -1)
            pipe.pexpire(key, max(1, int(ttl_s * 1000)))
            pipe.execute()

    def lists(self, keys: list[str]) -> list[list[str]]:
        """Every item of each list, oldest first (a missing key is an empty list), in one
        round trip."""
        with translate_errors():
            if not keys:
                return []
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.lrange(key, 0, -1)
            replies = pipe.execute()
        found: list[list[str]] = []
        for reply in replies:
            if not isinstance(reply, list):
                raise TypeError(f"unexpected Redis reply type {type(reply).__name__}")
            found.append([t for t in (_text(v) for v in reply) if t is not None])
        return found

    def publish(self, channel: str, message: str) -> None:
        with translate_errors():
            self.client.publish(channel, message)

    def subscribe(self, channel: str, timeout_s: float) -> Iterator[str]:
        """Yield messages on `channel` until `timeout_s` passes without one."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel)
        heard = time.monotonic()
        try:
            while True:
                message = pubsub.get_message(timeout=timeout_s)
                if message is None:
                    # None also stands for the subscription's own confirmation, which comes
                    # at once: only a whole quiet `timeout_s` ends the stream.
                    if time.monotonic() - heard >= timeout_s:
                        return
                    continue
                heard = time.monotonic()
                data = _text(message.get("data"))
                if data is not None:
                    yield data
        finally:
            pubsub.close()

    def close(self) -> None:
        self.client.close()


def redact_url(url: str) -> str:
    """Hide a password in a Redis URL before it reaches a message."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
