"""The training events the bot hears: `trainer:events`, parsed, with reconnects.

Every run event is published both on `trainer:events` and on `runs:<id>:events`; the bot
listens to the first alone and filters by its watch list. One subscription sees new runs
(for auto-watch) and watched ones alike, hears each event once, and leaves no gap between
watching a run and hearing it (a per-run subscription would be opened after the command).
After every (re)connection `on_connected` runs, which is where catch-up happens: events of
the time without a connection are gone from pub/sub, but the runs' state is not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from model_trainer.bot.pubsub import Pong, Subscription
from model_trainer.core.logging import Log
from model_trainer.infra.backoff import delays
from model_trainer.training.run.events import EVENT_ADAPTER, GLOBAL_CHANNEL, TrainingEvent

PING_INTERVAL_S = 15.0
"""Quiet seconds after which the bot asks Redis whether the connection still stands."""
MAX_RECONNECT_WAIT_S = 30.0


class EventFeed:
    """Feeds `on_event` every training event, in order, for as long as it runs."""

    def __init__(
        self,
        redis_url: str,
        on_event: Callable[[TrainingEvent], Awaitable[None]],
        on_connected: Callable[[], Awaitable[None]],
        log: Log,
        ping_interval_s: float = PING_INTERVAL_S,
    ) -> None:
        self._url = redis_url
        self._on_event = on_event
        self._on_connected = on_connected
        self._log = log
        self._ping_interval_s = ping_interval_s
        self.connections = 0
        """How many times the feed connected (tests watch it reconnect)."""

    async def run(self) -> None:
        """Listen forever, reconnecting with a growing wait (cancel the task to stop)."""
        waits = delays(0.5, MAX_RECONNECT_WAIT_S)
        while True:
            try:
                async with await Subscription.open(self._url, [GLOBAL_CHANNEL]) as events:
                    self.connections += 1
                    self._log.info("event_feed_connected", connections=self.connections)
                    waits = delays(0.5, MAX_RECONNECT_WAIT_S)
                    await self._on_connected()
                    await self._listen(events)
            except ConnectionError as exc:
                wait = next(waits)
                # The URL may hold a password: the log names only the kind of fault.
                self._log.warning("event_feed_lost", error=str(exc), retry_in_s=wait)
                await asyncio.sleep(wait)

    async def _listen(self, events: Subscription) -> None:
        heard = time.monotonic()
        while True:
            data = await events.next(self._ping_interval_s)
            if data is None:
                if time.monotonic() - heard > 2 * self._ping_interval_s:
                    raise ConnectionError("Redis stopped answering pings")
                events.ping()
                continue
            heard = time.monotonic()
            if isinstance(data, Pong):
                continue
            try:
                event = EVENT_ADAPTER.validate_json(data)
            except ValidationError:
                # A newer publisher's event type: not ours to guess at.
                self._log.info("event_not_understood", size=len(data))
                continue
            await self._on_event(event)
