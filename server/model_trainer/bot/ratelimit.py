"""How fast the bot may write to one DM: a token bucket well under Discord's limit.

Discord allows about 5 messages per 5 seconds in a channel. A bucket of `burst` tokens
refilled one every `period_s` lets through at most `burst + window / period_s` messages in
any window: 2 + 5 / 2 = 4 in 5 s with the defaults, one below the limit, so a 429 never
comes from us.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

DISCORD_DM_LIMIT = 5
"""Messages Discord accepts in one channel per `DISCORD_DM_WINDOW_S`."""
DISCORD_DM_WINDOW_S = 5.0


@dataclass(frozen=True)
class RatePolicy:
    """The outbox's pace: the bucket, how long a burst may gather, and the retry waits."""

    burst: int = 2
    """Messages that may leave back to back after a quiet spell."""
    period_s: float = 2.0
    """One more message per this many seconds, sustained."""
    linger_s: float = 0.75
    """After a quiet spell, how long to wait for the rest of a burst before the first send."""
    first_retry_s: float = 1.0
    """The wait after a failed send; it doubles with each failure in a row."""
    max_retry_s: float = 120.0

    def most_in(self, window_s: float) -> int:
        """The most messages this policy lets through in any window of `window_s`."""
        return self.burst + int(window_s / self.period_s)


class TokenBucket:
    """`burst` tokens, one back every `period_s`; a send takes one."""

    def __init__(self, policy: RatePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(policy.burst)
        self._period_s = policy.period_s
        self._clock = clock
        self._tokens = self._capacity
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) / self._period_s)
        self._at = now

    def delay(self) -> float:
        """Seconds until a token is there (0 when one is)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) * self._period_s

    def take(self) -> None:
        self._refill()
        self._tokens -= 1.0

    async def acquire(self) -> None:
        """Wait for a token and take it."""
        while (wait := self.delay()) > 0:
            await asyncio.sleep(wait)
        self.take()
