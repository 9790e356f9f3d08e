"""Which runs the owner watches, and what the bot last told them of each, kept in Redis.

`discord:watching` is the set of watched run ids; `discord:mark:<run id>` is the `RunMark`
of the last message delivered about the run, which catch-up compares with the API's answer
after the bot was away. In memory the watch list also keeps the mark of the latest event
heard (`known`), which is ahead of the delivered one while messages wait in the outbox.
Redis is reached through the synchronous `RedisStore` in a thread: these calls are few.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.run.events import (
    CheckpointSaved,
    EvalCompleted,
    TrainCancelled,
    TrainCompleted,
    TrainFailed,
    TrainingEvent,
    TrainProgress,
    TrainQueued,
    TrainRequeued,
    TrainStarted,
)

WATCHING_KEY = "discord:watching"
MARK_PREFIX = "discord:mark:"
ALIVE_KEY = "discord:alive"
"""When the bot was last running (Unix seconds, refreshed every few seconds): auto-watch
picks up runs created since, and the container's health check reads it."""


class RunMark(BaseModel):
    """Where a run stood when the bot last spoke of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: JobStatus | None = None
    step: int = 0
    checkpoint_step: int | None = None
    starts: int = 0
    """Starts heard; a second one is a resumption."""

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL


def advance(mark: RunMark | None, event: TrainingEvent) -> RunMark:
    """The mark after `event`."""
    mark = mark or RunMark()
    status, checkpoint, starts = mark.status, mark.checkpoint_step, mark.starts
    if isinstance(event, TrainQueued):
        status = JobStatus.QUEUED
    elif isinstance(event, TrainStarted):
        status, starts = JobStatus.RUNNING, starts + 1
    elif isinstance(event, CheckpointSaved):
        checkpoint = event.step
    elif isinstance(event, TrainRequeued):  # a warm stop saves a checkpoint, then queues
        status, checkpoint = JobStatus.QUEUED, event.step
    elif isinstance(event, TrainProgress | EvalCompleted):
        status = JobStatus.RUNNING
    elif isinstance(event, TrainCancelled):  # a cancelled run keeps a checkpoint too
        status, checkpoint = JobStatus.CANCELLED, event.step
    elif isinstance(event, TrainCompleted):
        status = JobStatus.COMPLETED
    else:
        status = JobStatus.FAILED
    step = max(mark.step, event_step(event))
    return RunMark(status=status, step=step, checkpoint_step=checkpoint, starts=starts)


def event_step(event: TrainingEvent) -> int:
    """The step an event happened at (0 for those that carry none)."""
    if isinstance(event, TrainStarted):
        return event.resumed_from_step
    if isinstance(event, TrainQueued | TrainFailed):
        return 0
    return event.step


class Watchlist:
    """The watched runs, in Redis and in memory."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._watched: set[str] = set()
        self._known: dict[str, RunMark] = {}

    async def restore(self) -> list[str]:
        """Load the watched runs and their delivered marks (on start)."""
        ids = await asyncio.to_thread(self._store.set_members, WATCHING_KEY)
        self._watched = set(ids)
        for run_id in ids:
            mark = await self.delivered(run_id)
            if mark is not None:
                self._known.setdefault(run_id, mark)
        return ids

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._watched

    def ids(self) -> list[str]:
        return sorted(self._watched)

    def known(self, run_id: str) -> RunMark | None:
        return self._known.get(run_id)

    def note(self, run_id: str, mark: RunMark) -> None:
        """Remember the latest state heard (not yet delivered)."""
        self._known[run_id] = mark

    async def add(self, run_id: str, mark: RunMark | None) -> None:
        """Watch `run_id`; `mark` is what the owner was just told of it, if anything."""
        await asyncio.to_thread(self._store.set_add, WATCHING_KEY, run_id)
        self._watched.add(run_id)
        if mark is not None:
            self._known[run_id] = mark
            await self.record_delivered(run_id, mark)

    async def remove(self, run_id: str) -> bool:
        """Stop watching; whether it was watched."""
        was = run_id in self._watched
        await asyncio.to_thread(self._store.set_remove, WATCHING_KEY, run_id)
        await asyncio.to_thread(self._store.delete, MARK_PREFIX + run_id)
        self._watched.discard(run_id)
        self._known.pop(run_id, None)
        return was

    async def delivered(self, run_id: str) -> RunMark | None:
        raw = await asyncio.to_thread(self._store.get, MARK_PREFIX + run_id)
        if raw is None:
            return None
        try:
            return RunMark.model_validate_json(raw)
        except ValidationError:
            return None  # written by another version: catch-up starts from nothing

    async def record_delivered(self, run_id: str, mark: RunMark) -> None:
        if run_id in self._watched:
            await asyncio.to_thread(self._store.set, MARK_PREFIX + run_id, mark.model_dump_json())

    async def alive_since(self) -> float | None:
        raw = await asyncio.to_thread(self._store.get, ALIVE_KEY)
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None

    async def touch_alive(self) -> None:
        await asyncio.to_thread(self._store.set, ALIVE_KEY, f"{time.time():.3f}")
