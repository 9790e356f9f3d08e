"""Typed training lifecycle events, published on `trainer:events` and `runs:<id>:events`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from model_trainer.core.contracts.events import Event
from model_trainer.training.loop.progress import Phase

GLOBAL_CHANNEL = "trainer:events"


def run_channel(run_id: str) -> str:
    return f"runs:{run_id}:events"


class TrainQueued(Event):
    """A run was accepted and waits for a worker; published before it is enqueued, so that
    a listener hears it before the run's start."""

    type: Literal["trainer.train.queued.v1"] = "trainer.train.queued.v1"
    family: str
    parameters: int
    max_steps: int


class TrainStarted(Event):
    type: Literal["trainer.train.started.v1"] = "trainer.train.started.v1"
    max_steps: int
    device: str
    parameters: int
    resumed_from_step: int = 0


class TrainProgress(Event):
    type: Literal["trainer.train.progress.v1"] = "trainer.train.progress.v1"
    step: int
    max_steps: int
    tokens_seen: int
    train_loss: float | None
    lr: float | None
    tokens_per_s: float | None
    eta_s: float | None
    phase: Phase | None = None
    """"finalising" on the last step's report: the final evaluation and the export follow."""


class CheckpointSaved(Event):
    type: Literal["trainer.train.checkpoint_saved.v1"] = "trainer.train.checkpoint_saved.v1"
    step: int
    path: str
    best: bool


class EvalCompleted(Event):
    type: Literal["trainer.train.eval_completed.v1"] = "trainer.train.eval_completed.v1"
    step: int
    train_loss: float
    val_loss: float
    val_perplexity: float


class TrainCompleted(Event):
    type: Literal["trainer.train.completed.v1"] = "trainer.train.completed.v1"
    step: int
    final_val_loss: float | None
    best_val_loss: float | None
    seconds: float


class TrainFailed(Event):
    type: Literal["trainer.train.failed.v1"] = "trainer.train.failed.v1"
    error_code: str
    failure_class: str
    message: str


class TrainCancelled(Event):
    type: Literal["trainer.train.cancelled.v1"] = "trainer.train.cancelled.v1"
    step: int


class TrainRequeued(Event):
    """The run's worker was stopped warm: a checkpoint was saved and the run queued again."""

    type: Literal["trainer.train.requeued.v1"] = "trainer.train.requeued.v1"
    step: int
    message: str


TrainingEvent = Annotated[
    TrainQueued
    | TrainStarted
    | TrainProgress
    | CheckpointSaved
    | EvalCompleted
    | TrainCompleted
    | TrainFailed
    | TrainCancelled
    | TrainRequeued,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[TrainingEvent] = TypeAdapter(TrainingEvent)
"""Parses any training event from JSON (`EVENT_ADAPTER.validate_json(raw)`)."""
