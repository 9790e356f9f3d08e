"""What a worker and the processes of a run in several processes tell each other, as files
in the run's `.ranks/` folder: the plan (worker to every rank), rank 0's reports (one JSON
line each, appended), and the worker's stop request (written once, whole)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from model_trainer.core.errors import ErrorCode
from model_trainer.infra.atomic import write_model
from model_trainer.training.loop.loop import EvalResult, LoopOutcome
from model_trainer.training.loop.progress import Progress

PLAN, REPORTS, STOP = "plan.json", "reports.jsonl", "stop"
RANK_ERROR_PREFIX = "rank-"
"""`rank-<N>.error`: what ended a rank that failed, written as it exits."""
RANK_MODULE = "model_trainer.worker.rank"
"""The module `torch.distributed.run` starts in every rank."""


class RankPlan(BaseModel):
    """Everything a rank needs besides the run's manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    artifacts_root: str
    train_path: str
    val_path: str
    dtype: str
    threads: int
    """Intra-op threads of each rank (the worker's share out among the ranks on CPU)."""
    worker_pid: int
    """The work horse that launched the ranks: they end when it is gone."""


class Started(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["started"] = "started"
    resumed_from: int | None


class Progressed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["progress"] = "progress"
    progress: Progress


class Evaluated(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["eval"] = "eval"
    result: EvalResult


class Checkpointed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["checkpoint"] = "checkpoint"
    step: int
    path: str
    best: bool


class Ended(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["ended"] = "ended"
    outcome: LoopOutcome


class Failed(BaseModel):
    """Rank 0 failed with one of the service's errors (a full disk, a bad checkpoint): the
    run ends as that error says, not as a crash to retry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["failed"] = "failed"
    code: ErrorCode
    message: str


Report = Annotated[
    Started | Progressed | Evaluated | Checkpointed | Ended | Failed, Field(discriminator="kind")
]
REPORT: TypeAdapter[Report] = TypeAdapter(Report)


def write_plan(folder: Path, plan: RankPlan) -> Path:
    path = folder / PLAN
    write_model(path, plan)
    return path


def read_plan(path: Path) -> RankPlan:
    return RankPlan.model_validate_json(path.read_bytes())
