"""A few threads for heavy requests in the API process, with a bounded waiting line.

Generation and encoding are CPU work. Run on the server's shared thread pool, forty of them
at once took every thread and every core, and `/healthz` waited seconds behind them. Here
they get their own small pool at a lower CPU priority; when it and its queue are full the
request is refused at once with `SERVER_BUSY` and a `Retry-After`, and everything else the
API does stays fast.

Long work (generation) runs in slices (`run_sliced`): each slice goes to the back of the
pool's queue, so requests take turns like a round robin, and between slices the client is
asked whether it is still there. A client that leaves stops its work within a slice, and a
short request waits for one slice of each long one, not for all of them to finish.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log

T = TypeVar("T")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)

NICE = 5
"""How far pool threads lower their own CPU priority, so the event loop is served first."""
EWMA = 0.2
"""Weight of the newest duration in the running estimate that `Retry-After` comes from."""
SLICE_S = 0.05
"""How long one slice of long work runs before the next request in line gets the thread."""

_log = Log("api")


def _lower_priority() -> None:
    """Per-thread niceness (Linux): threads the pool's work starts inherit it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as is
        _log.debug("pool_priority_unchanged", error=str(exc))


class Sliced(Protocol[T_co]):
    """Work done a slice at a time (`InferencePool.run_sliced`)."""

    def advance(self, budget_s: float, stop: threading.Event) -> bool:
        """Work for about `budget_s` (at least one unit), less once `stop` is set; True
        when finished."""
        ...

    def result(self) -> T_co:
        """What the work has produced (so far, if it was stopped)."""
        ...


class _Admission:
    """One admitted request's place in the pool. The place is given back once the request
    has ended and none of its slices is still running, so a client that leaves cannot free
    a place while its work still holds a thread."""

    def __init__(self, executor: ThreadPoolExecutor, release: Callable[[float], None]) -> None:
        self._executor = executor
        self._release = release
        self._lock = threading.Lock()
        self._running = False
        self._ended = False
        self.spent_s = 0.0
        """Thread time of its slices: the duration `Retry-After` estimates from."""

    def submit(self, call: Callable[[], U]) -> Awaitable[U]:
        with self._lock:
            self._running = True
        try:
            future = self._executor.submit(self._timed, call)
        except RuntimeError:  # shut down: the API is stopping
            self._slice_done()
            raise
        # A callback rather than a `finally` in `_timed`: a call cancelled while still
        # queued (its awaiting task was cancelled) never runs, and must free its place too.
        future.add_done_callback(lambda _future: self._slice_done())
        return asyncio.wrap_future(future)

    def _timed(self, call: Callable[[], U]) -> U:
        start = time.perf_counter()
        try:
            return call()
        finally:
            with self._lock:
                self.spent_s += time.perf_counter() - start

    def _slice_done(self) -> None:
        with self._lock:
            self._running = False
            release = self._ended
        if release:
            self._release(self.spent_s)

    def end(self) -> None:
        with self._lock:
            self._ended = True
            release = not self._running
        if release:
            self._release(self.spent_s)


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

    def _admit(self) -> _Admission:
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
        return _Admission(self._executor, self._release)

    def _release(self, seconds: float) -> None:
        with self._lock:
            self._admitted -= 1
            self._mean_s += EWMA * (seconds - self._mean_s)

    async def run(self, call: Callable[[], T]) -> T:
        """`call()` on the pool, or `SERVER_BUSY` at once when the pool and queue are full.

        A call counts until it has finished on its thread, even if the client has left,
        so abandoned work still holds its place and the bound stays true.
        """
        admission = self._admit()
        try:
            return await admission.submit(call)
        finally:
            admission.end()

    async def run_sliced(
        self, start: Callable[[], Sliced[T]], gone: Callable[[], Awaitable[bool]]
    ) -> T:
        """`start()` on the pool, then the work it returns a slice at a time until it is
        finished or `gone()` says the client has left (checked between slices); then what
        it has so far, which nobody will read. `SERVER_BUSY` as for `run`."""
        admission = self._admit()
        stop = threading.Event()  # also ends a slice in flight if this task is cancelled
        try:
            work = await admission.submit(start)
            slices = 0
            while not await admission.submit(lambda: work.advance(SLICE_S, stop)):
                slices += 1
                if await gone():
                    _log.info(
                        "inference_stopped",
                        pool=self._name,
                        reason="client disconnected",
                        slices=slices,
                        ran_s=round(admission.spent_s, 3),
                    )
                    break
            return work.result()
        finally:
            stop.set()
            admission.end()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
