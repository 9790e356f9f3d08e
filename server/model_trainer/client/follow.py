"""Following a job's log stream through API restarts and dropped connections.

The API ends a log stream when the job has ended, and also when it shuts down; only the
job's status tells the two apart. While the API is away the follower waits and tries again,
then resumes after the last event it saw (`Last-Event-ID`), so no line is shown twice or
lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from model_trainer.client.api import RETRYABLE_STATUS, ApiClient, StreamEvent
from model_trainer.client.errors import UNREACHABLE, ApiError

T = TypeVar("T")

RECONNECT_FOR_S = 300.0
"""How long the API may stay away before following gives up (a restart takes seconds)."""
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 5.0


def retryable(error: ApiError) -> bool:
    """Errors that mean "the API is not there right now", not "this request is wrong"."""
    return error.code == UNREACHABLE or error.status in RETRYABLE_STATUS


def follow_events(
    client: ApiClient,
    path: str,
    finished: Callable[[], bool],
    on_retry: Callable[[ApiError | None], None],
    after: int = 0,
    reconnect_for_s: float = RECONNECT_FOR_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[StreamEvent]:
    """Events of the stream at `path` after `after`, until `finished()` says the job ended.

    `on_retry` hears why the follower is waiting (None: the stream ended early) before each
    new attempt; after `reconnect_for_s` without an answer the last error is raised.
    """
    last = after
    away_since: float | None = None
    delay = FIRST_DELAY_S
    while True:
        problem: ApiError | None = None
        try:
            for event in client.events(path, last):
                away_since, delay = None, FIRST_DELAY_S
                last = event.id
                yield event
            if finished():
                return
        except ApiError as exc:
            if not retryable(exc):
                raise
            problem = exc
        now = time.monotonic()
        away_since = now if away_since is None else away_since
        if now - away_since > reconnect_for_s:
            raise problem or ApiError(UNREACHABLE, "the log stream kept ending early")
        on_retry(problem)
        sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)


def patiently(
    call: Callable[[], T],
    on_retry: Callable[[ApiError | None], None],
    reconnect_for_s: float = RECONNECT_FOR_S,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, tried again while the API is away (restarting), like the stream."""
    started = time.monotonic()
    delay = FIRST_DELAY_S
    while True:
        try:
            return call()
        except ApiError as exc:
            if not retryable(exc) or time.monotonic() - started > reconnect_for_s:
                raise
            on_retry(exc)
        sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)
