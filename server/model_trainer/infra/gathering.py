"""Continuous batching of sliced work (one model's generations) on an `InferencePool`.

Work that can share its slices (`Joins`) waits in a `Gathering` for its next turn: one
slice at a time runs for everyone gathered, on one of the pool's threads as the slice of
one of them, and whoever arrives during it joins the next, so a newcomer waits at most a
slice and concurrent requests share forward passes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

W = TypeVar("W")

Submit = Callable[[Callable[[], list[bool]]], Awaitable[list[bool]]]
"""Runs a call on the pool's thread, counted as the slice of one admitted request."""


@runtime_checkable
class Joins(Protocol):
    """Sliced work that shares its slices with other work of its kind (`Gathering`)."""

    def turn(
        self, stop: threading.Event, submit: Submit, charge: Callable[[float], None]
    ) -> Awaitable[bool]:
        """Wait for the next shared slice to run this work too (`charge` counts the slice's
        time against this work's request); True once it is finished."""
        ...


REJOIN_S = 0.01
"""How long a shared slice waits, after answering its members, for those not finished to
come back (they send what they got first), so that they go on together."""


@dataclass
class _Turn(Generic[W]):
    work: W
    stop: threading.Event
    submit: Submit
    charge: Callable[[float], None]
    done: asyncio.Future[bool]


class Gathering(Generic[W]):
    """Work that waits for a shared slice (one model's generations). Lives on the event
    loop: `turn` queues the work and starts a driver when none runs; the driver runs
    `together(works, stops, budget_s)` on the pool as the slice of one of them (at most `most` at
    once), answers each, and goes on while anyone waits. A member whose client leaves
    mid-slice gives its place back at once; its row is dropped at the next token."""

    def __init__(
        self,
        together: Callable[[list[W], list[threading.Event], float], list[bool]],
        most: int,
        budget_s: float,
    ) -> None:
        self._together = together
        self._most = most
        self._budget_s = budget_s
        self._waiting: list[_Turn[W]] = []
        self._driver: asyncio.Task[None] | None = None
        self._expected: list[_Turn[W]] = []
        self._back: asyncio.Event | None = None  # made on the loop that waits on it

    async def turn(
        self, work: W, stop: threading.Event, submit: Submit, charge: Callable[[float], None]
    ) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Turn(work, stop, submit, charge, done))
        self._expected = [t for t in self._expected if t.work is not work]
        if not self._expected and self._back is not None:
            self._back.set()
        if self._driver is None:
            self._driver = asyncio.create_task(self._drive())
        return await done

    async def _drive(self) -> None:
        batch: list[_Turn[W]] = []
        try:
            while self._waiting:
                batch = [t for t in self._waiting[: self._most] if not t.done.done()]
                self._waiting = self._waiting[self._most :]
                if batch:
                    await self._rejoin(await self._slice(batch))
        except BaseException:  # cancelled (the API is stopping): nobody waits forever
            for t in [*batch, *self._waiting]:
                t.done.cancel()
            self._waiting = []
            raise
        finally:
            self._driver = None

    async def _rejoin(self, answered: list[_Turn[W]]) -> None:
        """Wait (at most `REJOIN_S`) for the members just answered and not finished to ask
        for their next turn: started at once, the next slice would leave them out, and two
        groups a slice apart would take turns for good instead of going on together."""
        self._expected = [t for t in answered if not t.stop.is_set()]
        if not self._expected:
            return
        self._back = back = asyncio.Event()
        try:
            await asyncio.wait_for(back.wait(), REJOIN_S)
        except TimeoutError:
            pass  # a client that left, or is slow to read: the others go on
        finally:
            self._expected, self._back = [], None

    async def _slice(self, batch: list[_Turn[W]]) -> list[_Turn[W]]:
        """Run one shared slice; the members answered and not finished."""
        works, stops = [t.work for t in batch], [t.stop for t in batch]
        start = time.perf_counter()
        try:
            finished = await batch[0].submit(lambda: self._together(works, stops, self._budget_s))
        except Exception as exc:  # noqa: BLE001 - handed to every member, which raises it
            for t in batch:
                if not t.done.done():
                    t.done.set_exception(exc)
            return []
        spent = time.perf_counter() - start
        for t in batch[1:]:  # the first's slice was counted by its own admission
            t.charge(spent)
        answered: list[_Turn[W]] = []
        for t, flag in zip(batch, finished, strict=True):
            if not t.done.done():
                t.done.set_result(flag)
                if not flag:
                    answered.append(t)
        return answered
