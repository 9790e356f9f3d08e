"""Periodic progress summaries of watched runs: the numbers and a small loss chart.

Each watched run that is training gets one every `interval_s`, only when it moved since the
last. The losses come from `GET /runs/{id}/metrics?after=N`, asked only for what is new
since the previous summary, so a run of 100,000 logged steps costs one full read at first.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from model_trainer.bot.api import TrainerApi
from model_trainer.bot.chart import Point, loss_chart
from model_trainer.bot.format import (
    FINALISING_NOTE,
    best_loss,
    count,
    counting_down,
    loss,
    steps,
)
from model_trainer.bot.messages import Colour, Field, Image, Message
from model_trainer.client.text import NONE, duration
from model_trainer.client.views import MetricsView, RunView
from model_trainer.core.job_status import JobStatus

MAX_POINTS = 2000
"""Points kept per series; past it every other one goes (a chart is 480 pixels wide)."""


class LossHistory:
    """The losses of one run as far as read, and where to read on from."""

    def __init__(self) -> None:
        self.after = 0
        self.train: list[Point] = []
        self.val: list[Point] = []

    def add(self, page: MetricsView) -> None:
        for record in page.data:
            if record.kind == "train" and record.loss is not None:
                self.train.append((float(record.step), record.loss))
            elif record.kind == "eval" and record.val_loss is not None:
                self.val.append((float(record.step), record.val_loss))
        self.after = page.next_after
        if len(self.train) > MAX_POINTS:
            self.train = self.train[::2]
        if len(self.val) > MAX_POINTS:
            self.val = self.val[::2]


class Summaries:
    """When each watched run is due a summary, and how to make one."""

    def __init__(
        self, api: TrainerApi, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._api = api
        self.interval_s = interval_s
        self._clock = clock
        self._due: dict[str, float] = {}
        self._summarised_step: dict[str, int] = {}
        self._history: dict[str, LossHistory] = {}

    def schedule(self, run_id: str) -> None:
        """The first summary comes one interval from now (the watch itself said the rest)."""
        self._due.setdefault(run_id, self._clock() + self.interval_s)

    def forget(self, run_id: str) -> None:
        self._due.pop(run_id, None)
        self._summarised_step.pop(run_id, None)
        self._history.pop(run_id, None)

    def due(self) -> list[str]:
        now = self._clock()
        return sorted(run_id for run_id, at in self._due.items() if at <= now)

    async def build(self, run_id: str) -> Message | None:
        """The run's summary, or None when it is not training or has not moved (ApiError
        propagates: the caller logs it and tries at the next interval)."""
        self._due[run_id] = self._clock() + self.interval_s
        run = await self._api.run(run_id)
        last = self._summarised_step.get(run_id, -1)
        if run.status is not JobStatus.RUNNING or run.progress.step <= last:
            return None
        history = self._history.setdefault(run_id, LossHistory())
        page = await self._api.metrics(run_id, history.after)
        if page.next_after < history.after:  # a resumed run trimmed its records: read again
            history = self._history[run_id] = LossHistory()
            page = await self._api.metrics(run_id, 0)
        history.add(page)
        self._summarised_step[run_id] = run.progress.step
        return summary_message(run, history)


def summary_message(run: RunView, history: LossHistory) -> Message:
    """A running run's progress, its latest losses, and the chart of them all."""
    progress, metrics = run.progress, run.metrics
    trend = NONE
    if history.train:
        trend = f"{loss(history.train[0][1])} → {loss(history.train[-1][1])}"
    fields = (
        Field("Train loss", loss(progress.train_loss)),
        Field("Val loss", loss(progress.val_loss)),
        Field("Best val loss", best_loss(metrics)),
        Field("ETA", duration(progress.eta_s) if counting_down(run) else NONE),
        Field(
            "Speed",
            f"{count(progress.tokens_per_s)} tokens per s" if progress.tokens_per_s else NONE,
        ),
        Field("Train loss so far", trend),
    )
    description = steps(progress.step, progress.max_steps)
    if progress.phase == "finalising":
        description += f"; finalising: {FINALISING_NOTE}"
    return Message(
        title=f"Progress · {run.run_id}",
        description=description,
        fields=fields,
        colour=Colour.INFO,
        footer="blue: train loss · red: val loss",
        image=Image(f"loss-{run.run_id}.png", loss_chart(history.train, history.val)),
    )
