"""`/runs` bodies: RunCreate in; RunPublic and friends out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.request_model import MAX_STEP_COUNT, MAX_TOKEN_ID, RequestModel
from model_trainer.infra.workers import DeviceKind
from model_trainer.orchestrators.evaluations import EvalView
from model_trainer.orchestrators.queue_place import QueuePlace
from model_trainer.orchestrators.run_admission import RunEstimate
from model_trainer.orchestrators.runs import RunView
from model_trainer.training.config import RunConfig
from model_trainer.training.data.dataset import DatasetInfo
from model_trainer.training.inference.evaluate import EvalMetrics, Sample
from model_trainer.training.loop.device import DeviceInfo
from model_trainer.training.loop.early_stop import StoppedEarly
from model_trainer.training.loop.progress import Progress
from model_trainer.training.run.manifest import (
    EvalSummary,
    FinetuneInfo,
    MetricRecord,
    MetricsSummary,
    RunDurations,
    TokenizerRef,
)
from model_trainer.training.run.samples import EvalSamples

RunCreate = RunConfig


class RunQueued(BaseModel):
    """The answer to a training or evaluation request."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: JobStatus


class StepMemoryPublic(BaseModel):
    """The estimated bytes of one micro-step in fp32 with AdamW, by part."""

    model_config = ConfigDict(extra="forbid")

    state_bytes: Annotated[
        int, Field(description="Weights, gradients and AdamW's two moments (16 bytes each)")
    ]
    activation_bytes: Annotated[
        int, Field(description="What autograd keeps of one micro-batch for the backward pass")
    ]
    overhead_bytes: Annotated[
        int, Field(description="What the process holds before the model (none on CUDA)")
    ]
    total_bytes: int


class MemoryBudgetPublic(BaseModel):
    """What the step is judged against: a share of one device's memory."""

    model_config = ConfigDict(extra="forbid")

    worker: Annotated[
        str | None,
        Field(
            description="The live worker judged against (the roomiest offering the device); "
            "null when none is live or none offers the device"
        ),
    ]
    device: DeviceKind
    device_name: str
    device_memory_bytes: int
    memory_fraction: float
    budget_bytes: int


NO_LIVE_WORKER = "NO_LIVE_WORKER"
"""The estimate's code when nothing refuses the run but no live worker serves its queue."""


def _waiting_reason(device: DeviceKind) -> str:
    if device == "cuda":
        return (
            "no live worker serves cuda: a submission would wait in the queue for one (there "
            "is no GPU to judge its memory by until then)"
        )
    return (
        "no worker is live: a submission would wait in the queue for one (its memory is "
        "judged against this machine until then)"
    )


class RunEstimatePublic(BaseModel):
    """What a run body would make and need, and whether a live worker can take it now."""

    model_config = ConfigDict(extra="forbid")

    family: str
    architecture: Architecture
    parameters: int
    flops_per_token: Annotated[
        int,
        Field(
            description="Training FLOPs per token (forward and backward), by the family's "
            "formula; a LoRA run leaves out the weight gradients its frozen weights never get"
        ),
    ]
    tokens_per_step: int
    memory: StepMemoryPublic
    budget: MemoryBudgetPublic
    fits: Annotated[
        bool,
        Field(description="Whether a submission would be admitted and a live worker take it"),
    ]
    code: Annotated[
        str | None,
        Field(
            description="Why not: the code a submission would be refused with "
            "(MEMORY_LIMIT_EXCEEDED, DEVICE_UNAVAILABLE, PARAMETER_LIMIT_EXCEEDED, "
            f"TOKENS_PER_STEP_LIMIT_EXCEEDED), or {NO_LIVE_WORKER} (it would wait in the queue)"
        ),
    ]
    reason: Annotated[str | None, Field(description="The same, in words")]

    @classmethod
    def from_estimate(cls, estimate: RunEstimate) -> RunEstimatePublic:
        memory, refusal = estimate.memory, estimate.refusal
        code, reason = (str(refusal.code), refusal.message) if refusal else (None, None)
        if refusal is None and estimate.worker is None:
            code, reason = NO_LIVE_WORKER, _waiting_reason(memory.device.kind)
        return cls(
            family=estimate.architecture.family,
            architecture=estimate.architecture,
            parameters=estimate.parameters,
            flops_per_token=estimate.flops_per_token,
            tokens_per_step=estimate.tokens_per_step,
            memory=StepMemoryPublic(
                state_bytes=memory.need.state_bytes,
                activation_bytes=memory.need.activation_bytes,
                overhead_bytes=memory.overhead_bytes,
                total_bytes=memory.total_bytes,
            ),
            budget=MemoryBudgetPublic(
                worker=estimate.worker,
                device=memory.device.kind,
                device_name=memory.device.name,
                device_memory_bytes=memory.device.memory_bytes,
                memory_fraction=memory.memory_fraction,
                budget_bytes=memory.budget_bytes,
            ),
            fits=code is None,
            code=code,
            reason=reason,
        )


class RunPublic(BaseModel):
    """One run: live status and progress, the latest metrics, and what it was asked to do."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: JobStatus
    message: str | None
    last_heartbeat: float | None
    progress: Progress
    metrics: MetricsSummary
    error_code: str | None
    failure_class: str | None
    retries: int
    last_error: JobError | None
    config: RunConfig
    architecture: Architecture
    parameters: int
    tokenizer: TokenizerRef
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    device: DeviceInfo | None
    dataset: DatasetInfo | None
    durations: RunDurations
    artifacts: list[str]
    eval: EvalSummary | None
    finetune: Annotated[
        FinetuneInfo | None,
        Field(description="Where the weights came from and what trained (`model.init_from`)"),
    ]
    name: Annotated[
        str | None, Field(description="The run's current name (`config` keeps the submitted)")
    ]
    notes: Annotated[str | None, Field(description="The run's current notes")]
    tags: Annotated[list[str], Field(description="The run's current tags")]
    queue: Annotated[
        QueuePlace | None,
        Field(description="Its place in its queue while it waits for a worker (else null)"),
    ] = None
    stopped_early: Annotated[
        StoppedEarly | None,
        Field(description="Why it ended before max_steps: val loss stopped improving"),
    ] = None

    @classmethod
    def from_view(cls, view: RunView) -> RunPublic:
        m = view.manifest
        return cls(
            run_id=m.run_id,
            status=m.status,
            message=view.message,
            last_heartbeat=view.heartbeat,
            progress=m.progress,
            metrics=m.metrics,
            error_code=m.error.code if m.error else None,
            failure_class=str(m.error.failure_class) if m.error else None,
            retries=m.retries,
            last_error=m.last_error,
            config=m.config,
            architecture=m.architecture,
            parameters=m.parameters,
            tokenizer=m.tokenizer,
            created_at=m.created_at,
            started_at=m.started_at,
            finished_at=m.finished_at,
            device=m.device,
            dataset=m.dataset,
            durations=m.durations,
            artifacts=m.artifacts,
            eval=m.eval,
            finetune=m.finetune,
            name=view.labels.name,
            notes=view.labels.notes,
            tags=view.labels.tags,
            queue=view.queue,
            stopped_early=m.stopped_early,
        )


class RunResumeRequest(RequestModel):
    """How long a resumed run trains: a cancelled or failed run keeps its `max_steps`
    unless given one; a completed run is extended to the one given."""

    model_config = ConfigDict(extra="forbid")

    max_steps: Annotated[
        int | None,
        Field(
            ge=1,
            le=MAX_STEP_COUNT,
            description="The run's new length in steps: more than the steps it has done "
            "(required for a completed run)",
        ),
    ] = None


class RunsPublic(BaseModel):
    """A page of runs, newest first."""

    model_config = ConfigDict(extra="forbid")

    data: list[RunPublic]
    count: int


class SamplesPublic(BaseModel):
    """The samples generated at each evaluation during training, oldest first."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    data: list[EvalSamples]
    count: int


class MetricsPublic(BaseModel):
    """A run's logged steps and evaluations in order (for charts), after the first `after`."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    data: list[MetricRecord]
    count: int
    after: int
    next_after: Annotated[
        int,
        Field(
            description="The `after` that asks for what comes next: records logged so far "
            "(`total`), or the end of this page when `limit` cut it short. Below `after` "
            "when a resumed run dropped the records past its checkpoint: ask again from 0."
        ),
    ]
    total: Annotated[
        int, Field(description="Records logged so far (damaged lines, never served, included)")
    ]
    downsampled: Annotated[
        bool,
        Field(
            description="`data` holds only some of the records of the page (`points`): per "
            "bucket of steps the first, last, lowest and highest loss"
        ),
    ] = False


class LogsPublic(BaseModel):
    """The last lines of a run's `logs.jsonl`, each a JSON record as written."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    lines: list[str]
    count: int


class EvaluateRequest(RequestModel):
    """Evaluate on a split of the run's own data, or on another corpus."""

    model_config = ConfigDict(extra="forbid")

    split: Literal["train", "val"] = "val"
    corpus_path: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


class EvalQueued(BaseModel):
    """The answer to an evaluation request: the evaluation's id, to follow it by."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: JobStatus
    eval_id: str


class EvalPublic(BaseModel):
    """The latest evaluation: its status, and its figures and samples once completed."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    eval_id: Annotated[
        str | None, Field(description="None for an evaluation from before evaluations were jobs")
    ]
    status: JobStatus
    message: str | None
    error: Annotated[JobError | None, Field(description="Why it failed, when it did")]
    metrics: Annotated[EvalMetrics | None, Field(description="Once completed")]
    samples: list[Sample]
    queue: Annotated[
        QueuePlace | None,
        Field(description="Its place in the queue while it waits for a worker (else null)"),
    ] = None

    @classmethod
    def from_view(cls, view: EvalView) -> EvalPublic:
        return cls(
            run_id=view.run_id,
            eval_id=view.manifest.eval_id if view.manifest else None,
            status=view.status,
            message=view.message,
            error=view.error,
            metrics=view.metrics,
            samples=view.samples,
            queue=view.queue,
        )


class GenerateRequest(RequestModel):
    """Sampling settings; the same seed gives the same text (when other requests share its
    forward passes, the scores can differ in the seventh digit, which at a temperature
    above 0 may, rarely, change a token)."""

    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, Field(max_length=100_000)] = ""
    max_new_tokens: Annotated[int, Field(ge=1, le=MAX_TOKEN_ID)] = 64
    temperature: Annotated[float, Field(ge=0.0, le=10.0)] = 0.8
    top_k: Annotated[int, Field(ge=1, le=MAX_TOKEN_ID)] | None = 40
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    stream: bool = Field(
        default=False,
        description="Answer with server-sent events as the text is made (as does "
        "`Accept: text/event-stream`): `token` events, then `done` or `error`",
    )


class GeneratePublic(BaseModel):
    """Generated text (without the prompt) and its token ids."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    prompt: str
    text: str
    ids: list[int]
    count: int


class GenerateToken(BaseModel):
    """A streamed generation's `token` event: the text added since the previous event (never
    a broken character) and the ids made since then; joined, the pieces are the text."""

    model_config = ConfigDict(extra="forbid")

    text: str
    ids: list[int]
