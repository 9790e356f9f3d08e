"""Publish typed events on Redis pub/sub as JSON."""

from __future__ import annotations

from model_trainer.core.contracts.events import Event
from model_trainer.core.logging import Log
from model_trainer.infra.redis_store import RedisStore, RedisUnavailable

_log = Log("core")


class RedisEventPublisher:
    """`EventPublisher` on Redis; a lost event is logged, never fatal to the job."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store

    def publish(self, channels: list[str], event: Event) -> None:
        payload = event.model_dump_json()
        for channel in channels:
            try:
                self._store.publish(channel, payload)
            except RedisUnavailable as exc:
                _log.warning(
                    "event_not_published", channel=channel, type=event.type, error=str(exc)
                )
