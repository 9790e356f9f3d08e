"""Retry transient faults (Redis gone for a moment) with exponential backoff, boundedly."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from model_trainer.core.errors import AppError, FailureClass
from model_trainer.core.logging import Log

T = TypeVar("T")

FIRST_DELAY_S = 0.5
"""The wait after the first failure; each later wait doubles."""
MAX_DELAY_S = 8.0
"""No single wait is longer than this."""


def delays(first_s: float = FIRST_DELAY_S, max_s: float = MAX_DELAY_S) -> Iterator[float]:
    """0.5, 1, 2, 4, 8, 8, ... seconds."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, max_s)


def retry_transient(call: Callable[[], T], what: str, log: Log, attempts: int = 8) -> T:
    """`call()`, retried while it raises a TRANSIENT `AppError`; the last error is re-raised
    after `attempts` tries (8 tries wait about 40 s in all)."""
    waits = delays()
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except AppError as exc:
            if exc.failure_class is not FailureClass.TRANSIENT or attempt == attempts:
                raise
            delay = next(waits)
            log.warning(
                "transient_failure_retrying",
                what=what,
                attempt=attempt,
                retry_in_s=delay,
                error=exc.message,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
