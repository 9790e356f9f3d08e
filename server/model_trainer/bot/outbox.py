"""The queue of messages to one DM: paced by a token bucket, batched, and never dropped.

Items wait in order. Each send takes as many from the head as fit in one message: a single
item goes as its own embed, several as one batch that lists their lines in order (split over
as many messages as Discord's size limits need). A failed send leaves its items at the head
and is tried again after a doubling wait, so a disconnect delays news but loses none; once
a send succeeds, `on_delivered` hears which items left (the watch list records them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from model_trainer.bot.messages import DESCRIPTION_MAX, Colour, Message
from model_trainer.bot.ratelimit import RatePolicy, TokenBucket
from model_trainer.bot.redact import Redactor
from model_trainer.bot.watchlist import RunMark
from model_trainer.core.logging import Log

BATCH_LINE_MAX = 400
"""A batch line longer than this is cut (an alert's line is far shorter)."""
_REFUSED_REASON = "refused as it is, with and without its image"
_SEVERITY = [Colour.MUTED, Colour.INFO, Colour.SUCCESS, Colour.WARNING, Colour.FAILURE]


class Sink(Protocol):
    """Where messages go: a Discord DM in production, a recording fake in tests."""

    async def send(self, user_id: int, message: Message) -> None: ...


class DeliveryFailed(Exception):
    """A send did not go through; `retry_after_s` when the other side said when to retry,
    `rejected` when it refused this message as it is (it is then sent without its image)."""

    def __init__(
        self, reason: str, retry_after_s: float | None = None, rejected: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.rejected = rejected


_REFUSED = DeliveryFailed(_REFUSED_REASON)
"""What `Outbox._deliver` answers for a message the other side will never take."""


@dataclass(frozen=True)
class Outgoing:
    """One piece of news for the DM."""

    message: Message
    line: str
    run_id: str | None = None
    mark: RunMark | None = None
    """The run's state once this is delivered (recorded for catch-up)."""
    replaces: str | None = None
    """A newer item with the same key takes the place of a waiting one (summaries)."""


def next_message(items: list[Outgoing], remaining_after: bool = True) -> tuple[Message, int]:
    """The message for the head of the queue, and how many items it carries."""
    head = items[0]
    if len(items) == 1 or head.message.image is not None:
        return head.message, 1
    lines: list[str] = []
    used = 0
    for item in items:
        if item.message.image is not None:
            break  # a chart goes in a message of its own
        line = "• " + (item.line if len(item.line) <= BATCH_LINE_MAX else item.line[:399] + "…")
        if lines and used + len(line) + 1 > DESCRIPTION_MAX:
            break
        lines.append(line)
        used += len(line) + 1
    taken = len(lines)
    if taken == 1:
        return head.message, 1
    colour = max((i.message.colour for i in items[:taken]), key=_SEVERITY.index)
    more = len(items) - taken
    footer = f"{more} more in the next message" if more and remaining_after else ""
    batch = Message(
        title=f"{taken} updates", description="\n".join(lines), colour=colour, footer=footer
    )
    return batch, taken


class Outbox:
    """The messages waiting for one user, and the task that delivers them."""

    def __init__(
        self,
        user_id: int,
        sink: Sink,
        redactor: Redactor,
        policy: RatePolicy,
        on_delivered: Callable[[list[Outgoing]], Awaitable[None]],
        log: Log,
    ) -> None:
        self._user_id = user_id
        self._sink = sink
        self._redactor = redactor
        self._policy = policy
        self._bucket = TokenBucket(policy)
        self._on_delivered = on_delivered
        self._log = log
        self._items: list[Outgoing] = []
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()

    def put(self, item: Outgoing) -> None:
        if item.replaces is not None:
            for i in range(self._in_flight, len(self._items)):
                if self._items[i].replaces == item.replaces:
                    del self._items[i]  # a newer summary says all the older one did
                    break
        self._items.append(item)
        self._empty.clear()
        self._wake.set()

    def pending(self) -> int:
        return len(self._items)

    async def drained(self, timeout_s: float) -> bool:
        """Wait until everything queued was delivered; whether it was, in time."""
        try:
            await asyncio.wait_for(self._empty.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Deliver forever (cancel the task to stop)."""
        failures = 0
        while True:
            if not self._items:
                self._empty.set()
                self._wake.clear()
                await self._wake.wait()
                await asyncio.sleep(self._policy.linger_s)  # let the rest of a burst arrive
            await self._bucket.acquire()
            message, count = next_message(self._items)
            self._in_flight = count
            try:
                failure = await self._deliver(message, count)
            finally:
                self._in_flight = 0
            if failure is _REFUSED:
                del self._items[:count]
                continue
            if failure is not None:
                failures += 1
                await self._wait_after(failure, failures)
                continue
            failures = 0
            sent = self._items[:count]
            del self._items[:count]
            await self._on_delivered(sent)

    async def _deliver(self, message: Message, count: int) -> DeliveryFailed | None:
        """Send the message; the failure to retry after, or None when it is done with."""
        safe = self._redactor.message(message)
        attempts = [safe, replace(safe, image=None)] if safe.image is not None else [safe]
        for attempt in attempts:
            if attempt is not safe:
                await self._bucket.acquire()
            try:
                await self._sink.send(self._user_id, attempt)
                return None
            except DeliveryFailed as exc:
                if not exc.rejected:
                    return exc
                # Refused as it is: try once more without the chart, the news matters more.
                self._log.warning("message_rejected", reason=exc.reason, image=bool(attempt.image))
            except OSError as exc:
                return DeliveryFailed(type(exc).__name__)
            except Exception as exc:  # noqa: BLE001 - a sink's bug must not stop delivery for good
                self._log.exception("send_crashed", error=type(exc).__name__)
                return DeliveryFailed(type(exc).__name__)
        # Sending it again would be refused again. Its runs' marks stay where they were, so
        # the next catch-up tells their state; the log says what happened.
        self._log.error("message_dropped_as_refused", items=count)
        return _REFUSED

    async def _wait_after(self, failure: DeliveryFailed, failures: int) -> None:
        wait = min(self._policy.max_retry_s, self._policy.first_retry_s * 2.0 ** (failures - 1))
        wait = max(wait, failure.retry_after_s or 0.0)
        self._log.warning(
            "delivery_failed",
            reason=failure.reason,
            retry_in_s=round(wait, 2),
            pending=len(self._items),
        )
        await asyncio.sleep(wait)
