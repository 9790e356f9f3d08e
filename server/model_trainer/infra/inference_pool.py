"""A few threads for heavy requests in the API process, with a bounded waiting line.

Generation and encoding are CPU work. Run on the server's shared thread pool, forty of them
at once took every thread and every core, and `/healthz` waited seconds behind them. Here
they get their own small pool at a lower CPU priority; when it and its queue are full the
request is refused at once with `SERVER_BUSY` and a `Retry-After`, and everything else the
API does stays fast.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log

T = TypeVar("T")

NICE = 5
"""How far pool threads lower their own CPU priority, so the event loop is served first."""
EWMA = 0.2
"""Weight of the newest duration in the running estimate that `Retry-After` comes from."""

_log = Log("api")


def _lower_priority() -> None:
    """Per-thread niceness (Linux): threads the pool's work starts inherit it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as is
        _log.debug("pool_priority_unchanged", error=str(exc))


class InferencePool:
    """At most `workers` calls run at once and `queue` more wait; the rest are refused."""

    def __init__(self, name: str, workers: int, queue: int) -> None:
        self._name = name
        self._workers = workers
        self._capacity = workers + queue
        self._admitted = 0
        self._mean_s = 1.0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=name, initializer=_lower_priority
        )

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self._capacity:
                waves = (self._admitted - self._workers) / self._workers + 1
                retry = max(1, math.ceil(self._mean_s * waves))
                raise AppError(
                    ErrorCode.SERVER_BUSY,
                    f"{self._name}: {self._admitted} requests are running or waiting, the "
                    f"most this server takes on; try again in about {retry} s",
                    retry_after_s=retry,
                )
            self._admitted += 1

    def _release(self, seconds: float) -> None:
        with self._lock:
            self._admitted -= 1
            self._mean_s += EWMA * (seconds - self._mean_s)

    def run(self, call: Callable[[], T]) -> Awaitable[T]:
        """`call()` on the pool, or `SERVER_BUSY` at once when the pool and queue are full.

        A call counts until it has finished on its thread, even if the client has left,
        so abandoned work still holds its place and the bound stays true.
        """
        self._admit()

        def timed() -> T:
            start = time.perf_counter()
            try:
                return call()
            finally:
                self._release(time.perf_counter() - start)

        try:
            future = self._executor.submit(timed)
        except RuntimeError:  # shut down: the API is stopping
            self._release(0.0)
            raise
        return asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
