"""The event publisher contract and the base of every lifecycle event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


def utc_now() -> datetime:
    """Timezone-aware now, the only clock events use."""
    return datetime.now(UTC)


class Event(BaseModel):
    """A typed lifecycle event; `type` is a versioned discriminator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    request_id: str
    timestamp: datetime = Field(default_factory=utc_now)


class EventPublisher(Protocol):
    """Sends events to whoever listens (Redis pub/sub in production)."""

    def publish(self, channels: list[str], event: Event) -> None: ...
