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

Work that can share its slices (`Joins`: generations from one model) takes its turns in a
`Gathering` instead (`infra/gathering.py`), still as slices of this pool's requests.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.gathering import Joins

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


def lower_priority() -> None:
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

    def charge(self, seconds: float) -> None:
        """Count thread time spent on this request's behalf in a slice it shared."""
        with self._lock:
            self.spent_s += seconds

    def _slice_done(self) -> None:
        with self._lock:
            self._running = False
            release = self._ended
        if release:
            self._release(self.spent_s)

    def end(self) -> None:
        with self._lock:
            if self._ended:  # once only: a second end would give the place back twice
                return
            self._ended = True
            release = not self._running
        if release:
            self._release(self.spent_s)


class SlicedLease(Generic[T]):
    """Started work that holds a place in the pool (`InferencePool.open_sliced`): each
    `advance` runs one slice at the back of the pool's queue, so a stream's turns are taken
    like any other request's. `close` stops a slice in flight and gives the place back once
    no slice of it is running."""

    def __init__(self, pool: InferencePool, admission: _Admission, work: Sliced[T]) -> None:
        self._pool = pool
        self._admission = admission
        self._work = work
        self._stop = threading.Event()
        self.slices = 0

    async def advance(self) -> bool:
        """One slice on the pool; True once the work is finished."""
        work, stop = self._work, self._stop
        if isinstance(work, Joins):
            admission = self._admission
            finished = await work.turn(stop, admission.submit, admission.charge)
        else:
            finished = await self._admission.submit(lambda: work.advance(SLICE_S, stop))
        self.slices += 1
        return finished

    def result(self) -> T:
        return self._work.result()

    def stopped(self, reason: str) -> None:
        """Count and log work stopped before it finished (its client left)."""
        self._pool.count_stopped()
        _log.info(
            "inference_stopped",
            pool=self._pool.name,
            reason=reason,
            slices=self.slices,
            ran_s=round(self._admission.spent_s, 3),
        )

    def close(self) -> None:
        """Stop (also a slice in flight) and give the place back; closing twice is harmless."""
        self._stop.set()
        self._admission.end()


class InferencePool:
    """At most `workers` calls run at once and `queue` more wait; the rest are refused."""

    def __init__(self, name: str, workers: int, queue: int) -> None:
        self.name = name
        self._stopped = 0
        self._workers = workers
        self._capacity = workers + queue
        self._admitted = 0
        self._mean_s = 1.0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=name, initializer=lower_priority
        )

    def _admit(self) -> _Admission:
        with self._lock:
            if self._admitted >= self._capacity:
                waves = (self._admitted - self._workers) / self._workers + 1
                retry = max(1, math.ceil(self._mean_s * waves))
                raise AppError(
                    ErrorCode.SERVER_BUSY,
                    f"{self.name}: {self._admitted} requests are running or waiting, the "
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

    @property
    def admitted(self) -> int:
        """Requests running or waiting now (each keeps its place until no slice of it runs)."""
        with self._lock:
            return self._admitted

    @property
    def stopped(self) -> int:
        """Sliced work stopped before it finished because its client left, since the start."""
        with self._lock:
            return self._stopped

    def count_stopped(self) -> None:
        with self._lock:
            self._stopped += 1

    async def open_sliced(self, start: Callable[[], Sliced[T]]) -> SlicedLease[T]:
        """Admit a request (`SERVER_BUSY` as for `run`) and run `start()` on the pool; the
        caller then advances the work a slice at a time and must `close` the lease. An error
        of `start()` gives the place back and is raised here, before anything was answered."""
        admission = self._admit()
        try:
            work = await admission.submit(start)
        except BaseException:
            admission.end()  # not swallowed: re-raised for the route to answer
            raise
        return SlicedLease(self, admission, work)

    async def run_sliced(
        self, start: Callable[[], Sliced[T]], gone: Callable[[], Awaitable[bool]]
    ) -> T:
        """`start()` on the pool, then the work it returns a slice at a time until it is
        finished or `gone()` says the client has left (checked between slices); then what
        it has so far, which nobody will read. `SERVER_BUSY` as for `run`."""
        lease = await self.open_sliced(start)
        try:
            while not await lease.advance():
                if await gone():
                    lease.stopped("client disconnected")
                    break
            return lease.result()
        finally:
            lease.close()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
