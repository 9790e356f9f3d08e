"""What the CLI and the bot read from the API: the shown fields of its answers.

The API's own schemas (`api/schemas`) pull in torch through the training modules; these
models name only what a client shows and ignore the rest, so the API can add fields freely.
A test checks that every field here exists in the API's OpenAPI schema.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.json_types import JsonObject
from model_trainer.training.loop.progress import Progress


class View(BaseModel):
    """A read model: unknown fields are ignored, values are frozen."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class QueuePlaceView(View):
    """Where a waiting job stands in its queue, and what it waits for."""

    position: int
    ahead: int
    waiting_for: str


class RegressionView(View):
    figure: str
    value: float
    baseline: float
    baseline_run_id: str


class StoppedEarlyView(View):
    patience: int
    best_step: int
    best_val_loss: float
    at_step: int


class RunMetricsView(View):
    best_val_loss: float | None = None
    best_step: int | None = None
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    final_val_perplexity: float | None = None
    final_val_bits_per_byte: float | None = None
    tokens_per_s: float | None = None
    regressions: list[RegressionView] = []


class TokenizerRefView(View):
    tokenizer_id: str
    method: str
    vocab_size: int


class EvalSummaryView(View):
    split: str
    corpus_path: str | None = None
    loss: float
    perplexity: float
    bits_per_byte: float | None = None
    regressions: list[RegressionView] = []
    finished_at: datetime


class DurationsView(View):
    total_s: float = 0.0


class WeightsOriginView(View):
    run_id: str | None = None
    path: str | None = None
    model_type: str
    weights_sha256: str | None = None


class LoraView(View):
    rank: int
    alpha: int
    dropout: float
    target_modules: list[str]


class FinetuneView(View):
    origin: WeightsOriginView
    method: str
    lora: LoraView | None = None
    trainable_parameters: int
    adapter_exported: bool = False


class RunView(View):
    run_id: str
    status: JobStatus
    message: str | None = None
    last_heartbeat: float | None = None
    name: str | None = None
    notes: str | None = None
    tags: list[str] = []
    queue: QueuePlaceView | None = None
    progress: Progress
    metrics: RunMetricsView
    error_code: str | None = None
    parameters: int
    tokenizer: TokenizerRefView
    config: JsonObject
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    artifacts: list[str] = []
    eval: EvalSummaryView | None = None
    durations: DurationsView = DurationsView()
    finetune: FinetuneView | None = None
    stopped_early: StoppedEarlyView | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def family(self) -> str:
        model = self.config.get("model")
        family = model.get("family") if isinstance(model, dict) else None
        return family if isinstance(family, str) else "?"


class RunsView(View):
    data: list[RunView]
    count: int


class TokenizerStatsView(View):
    vocab_size: int
    token_count: int
    unknown_token_rate: float | None = None
    coverage: float | None = None
    tokens_per_char: float | None = None
    tokens_per_word: float | None = None


class TokenizerView(View):
    tokenizer_id: str
    status: JobStatus
    method: str
    name: str | None = None
    notes: str | None = None
    tags: list[str] = []
    config: JsonObject
    stats: TokenizerStatsView | None = None
    message: str | None = None
    error_code: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_heartbeat: float | None = None
    files: list[str] = []
    queue: QueuePlaceView | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


class TokenizersView(View):
    data: list[TokenizerView]
    count: int


class QueuedView(View):
    """The 202 answer of a training or evaluation request (run, tokenizer or evaluation id)."""

    status: JobStatus
    run_id: str | None = None
    tokenizer_id: str | None = None
    eval_id: str | None = None


class ArchitectureView(View):
    n_layer: int
    n_head: int
    n_embd: int
    max_seq_len: int
    vocab_size: int


class StepMemoryView(View):
    state_bytes: int
    activation_bytes: int
    overhead_bytes: int
    total_bytes: int


class MemoryBudgetView(View):
    worker: str | None = None
    device: str
    device_memory_bytes: int
    memory_fraction: float
    budget_bytes: int


class EstimateView(View):
    """`POST /runs/estimate`'s answer."""

    family: str
    architecture: ArchitectureView
    parameters: int
    flops_per_token: int
    tokens_per_step: int
    memory: StepMemoryView
    budget: MemoryBudgetView
    fits: bool
    code: str | None = None
    reason: str | None = None


class MetricRecordView(View):
    kind: str
    step: int
    loss: float | None = None
    val_loss: float | None = None
    tokens_per_s: float | None = None
    time: float | None = None


class MetricsView(View):
    run_id: str
    data: list[MetricRecordView]
    count: int
    next_after: int


class LogsView(View):
    lines: list[str]
    count: int


class EncodeView(View):
    ids: list[int]
    tokens: list[str]


class GenerateView(View):
    run_id: str
    prompt: str
    text: str
    count: int


class EvalMetricsView(View):
    split: str
    corpus_path: str | None = None
    loss: float
    perplexity: float
    tokens: int
    bits_per_byte: float | None = None
    regressions: list[RegressionView] = []


class SampleView(View):
    prompt: str
    seed: int
    completion: str


class JobErrorView(View):
    code: str
    message: str


class EvalView(View):
    run_id: str
    eval_id: str | None = None
    status: JobStatus = JobStatus.COMPLETED
    """An API from before evaluations were jobs answered only with completed ones."""
    message: str | None = None
    error: JobErrorView | None = None
    metrics: EvalMetricsView | None = None
    samples: list[SampleView] = []
    queue: QueuePlaceView | None = None


class ArtifactFileView(View):
    path: str
    bytes: int


class ArtifactsView(View):
    id: str
    files: list[ArtifactFileView]
    count: int


class BackendView(View):
    kind: str
    name: str
    distribution: str
    version: str
    status: str
    reason: str | None = None
    sizes: dict[str, JsonObject] | None = None
    options_schema: JsonObject | None = None
    trains: bool = True
    """Whether training may name it (an API from before the field said nothing: all did)."""


class BackendsView(View):
    data: list[BackendView]
    count: int


class CorpusEntryView(View):
    name: str
    path: str
    kind: str
    bytes: int
    files: int
    format: str | None = None
    columns: list[str] = []
    rows: int | None = None


class CorpusFolderView(View):
    path: str
    bytes: int
    files: int
    data: list[CorpusEntryView]
    count: int
