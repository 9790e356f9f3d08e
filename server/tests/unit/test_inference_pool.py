"""The inference pool runs long work in slices: requests take turns, a client that leaves
stops its work, and a place is given back only once the work has let go of its thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.inference_pool import InferencePool


class _Steps:
    """`total` slices of a few milliseconds each (a sampler, without the model)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.saw_stop = threading.Event()

    def advance(self, budget_s: float, stop: threading.Event) -> bool:
        if stop.wait(0.002):
            self.saw_stop.set()
            return False
        self.done += 1
        return self.done >= self.total

    def result(self) -> int:
        return self.done


async def _present() -> bool:
    return False


def _given(work: _Steps) -> Callable[[], _Steps]:
    return lambda: work


def test_a_short_request_finishes_before_long_ones_admitted_before_it() -> None:
    async def scenario() -> tuple[list[int], int]:
        pool = InferencePool("test", workers=1, queue=8)
        longs = [_Steps(500) for _ in range(3)]
        tasks = [asyncio.create_task(pool.run_sliced(_given(w), _present)) for w in longs]
        await asyncio.sleep(0.05)  # the long ones are admitted and sampling first
        short = await pool.run_sliced(lambda: _Steps(5), _present)
        progress = [w.done for w in longs]
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pool.close()
        return progress, short

    progress, short = asyncio.run(scenario())
    assert short == 5
    assert all(0 < done < 500 for done in progress), progress  # turns were taken, not waited


def test_work_stops_between_slices_once_the_client_has_gone() -> None:
    asked = 0

    async def gone_after_three() -> bool:
        nonlocal asked
        asked += 1
        return asked >= 3

    async def scenario() -> tuple[int, int]:
        pool = InferencePool("test", workers=1, queue=0)
        stopped = await pool.run_sliced(lambda: _Steps(10_000), gone_after_three)
        after = await pool.run_sliced(lambda: _Steps(2), _present)  # its place was given back
        pool.close()
        return stopped, after

    stopped, after = asyncio.run(scenario())
    assert stopped == 3 and after == 2


class _Held:
    """One slice that runs until it is stopped or let go (a long one, on demand)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.let_go = threading.Event()
        self.saw_stop = False

    def advance(self, budget_s: float, stop: threading.Event) -> bool:
        self.entered.set()
        while not self.let_go.wait(0.001):
            if stop.is_set():
                self.saw_stop = True
                return False
        return True

    def result(self) -> int:
        return 0


def test_a_request_cancelled_mid_slice_stops_the_slice_then_frees_its_place() -> None:
    async def scenario() -> tuple[bool, int]:
        pool = InferencePool("test", workers=1, queue=0)
        held = _Held()
        task = asyncio.create_task(pool.run_sliced(lambda: held, _present))
        await asyncio.to_thread(held.entered.wait, 30)
        task.cancel()  # as a server that cancels handlers of clients that left would
        with contextlib.suppress(asyncio.CancelledError):
            await task
        after = await _when_admitted(pool)
        pool.close()
        return held.saw_stop, after

    saw_stop, after = asyncio.run(scenario())
    assert saw_stop and after == 1


def test_a_request_cancelled_while_queued_frees_its_place() -> None:
    async def scenario() -> int:
        pool = InferencePool("test", workers=1, queue=1)
        held = _Held()
        first = asyncio.create_task(pool.run_sliced(lambda: held, _present))
        await asyncio.to_thread(held.entered.wait, 30)
        queued = asyncio.create_task(pool.run_sliced(lambda: _Steps(1), _present))
        await asyncio.sleep(0)  # admitted, its start waiting behind the held slice
        queued.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await queued
        third = asyncio.create_task(pool.run_sliced(lambda: _Steps(1), _present))
        await asyncio.sleep(0)  # admitted (or refused) while the first still holds its place
        held.let_go.set()
        await first
        after = await third
        pool.close()
        return after

    assert asyncio.run(scenario()) == 1


async def _when_admitted(pool: InferencePool) -> int:
    """A one-slice request on `pool` once it has a free place (within a generous while)."""
    for _ in range(3000):
        try:
            return await pool.run_sliced(lambda: _Steps(1), _present)
        except AppError as exc:
            assert exc.code is ErrorCode.SERVER_BUSY
            await asyncio.sleep(0.01)
    raise AssertionError("the place was never given back")
