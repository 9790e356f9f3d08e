"""The durable record of a training run, as stored in `models/<id>/manifest.json`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from model_trainer.core.contracts.model import Architecture
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.infra.atomic import write_text
from model_trainer.jobs.manifest import ManifestFile
from model_trainer.training.config import FinetuneMethod, RunConfig
from model_trainer.training.data.dataset import DatasetInfo
from model_trainer.training.loop.device import DeviceInfo
from model_trainer.training.loop.early_stop import StoppedEarly
from model_trainer.training.loop.progress import Progress
from model_trainer.training.loop.sample_stats import SampleStats
from model_trainer.training.run.figures import LengthStats, Regression


class TokenizerRef(BaseModel):
    """The tokenizer a run uses."""

    model_config = ConfigDict(extra="forbid")

    tokenizer_id: str
    method: str
    vocab_size: int


class MetricsSummary(BaseModel):
    """Headline numbers of a run."""

    model_config = ConfigDict(extra="forbid")

    best_val_loss: float | None = None
    best_step: int | None = None
    final_train_loss: float | None = None
    final_val_loss: float | None = None
    final_val_perplexity: float | None = None
    final_val_bits_per_byte: float | None = None
    tokens_per_s: float | None = None
    sample_stats: SampleStats | None = None
    """Of the samples at the last evaluation during training."""
    regressions: list[Regression] = []
    """The final figures worse than the baseline run's (`baseline_run_id`)."""


class RunDurations(BaseModel):
    """Seconds per phase."""

    model_config = ConfigDict(extra="forbid")

    prepare_s: float = 0.0
    train_s: float = 0.0
    export_s: float = 0.0
    total_s: float = 0.0


EvalSplit = Literal["train", "val", "corpus"]
"""What an evaluation read: a split of the run's data, or the whole of another corpus."""
_FIELDS: TypeAdapter[dict[str, object]] = TypeAdapter(dict[str, object])


class EvalSummary(BaseModel):
    """The latest evaluation (full results in `eval/metrics.json`)."""

    model_config = ConfigDict(extra="forbid")

    split: EvalSplit
    corpus_path: str | None = None
    """The corpus evaluated when `split` is "corpus"."""
    loss: float
    perplexity: float
    tokens_per_char: float
    tokens: int
    finished_at: datetime
    bits_per_byte: float | None = None
    """None in evaluations from before it was measured."""
    length_stats: LengthStats | None = None
    sample_stats: SampleStats | None = None
    regressions: list[Regression] = []

    @model_validator(mode="before")
    @classmethod
    def _corpus_named_as_split(cls, data: object) -> object:
        """Read manifests written before `corpus_path`, which named the corpus in `split`."""
        try:
            fields = _FIELDS.validate_python(data)
        except ValidationError:
            return data
        split = fields.get("split")
        if isinstance(split, str) and split not in ("train", "val", "corpus"):
            return fields | {"split": "corpus", "corpus_path": split}
        return data


class WeightsOrigin(BaseModel):
    """Where a fine-tuning run's weights came from: an earlier run, or a folder under
    `MODELS_ROOT`, and the content of its weight files."""

    model_config = ConfigDict(extra="forbid")

    run_id: str | None = None
    path: str | None = None
    """Relative to `MODELS_ROOT`."""
    model_type: str
    """The folder's `config.json` says what family it is (the plugin that took it)."""
    weights_files: list[str] = []
    weights_sha256: str | None = None
    """SHA-256 over `config.json` and then the weight files in name order (`weights_files`
    says which), taken when the run first starts; a run that resumes refuses a config or
    weights that changed since."""


class LoraInfo(BaseModel):
    """The adapters a LoRA run trains."""

    model_config = ConfigDict(extra="forbid")

    rank: int
    alpha: int
    dropout: float
    target_modules: list[str]


class FinetuneInfo(BaseModel):
    """A run that started from weights people already had: from where, and what trains."""

    model_config = ConfigDict(extra="forbid")

    origin: WeightsOrigin
    method: FinetuneMethod
    lora: LoraInfo | None = None
    trainable_parameters: int
    """All of them for `full`; the adapters' for `lora`."""
    adapter_exported: bool = False


class RunManifest(BaseModel):
    """Rewritten atomically as the run advances."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    status: JobStatus
    config: RunConfig
    tokenizer: TokenizerRef
    architecture: Architecture
    parameters: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    dataset: DatasetInfo | None = None
    device: DeviceInfo | None = None
    versions: dict[str, str] = {}
    progress: Progress = Progress()
    metrics: MetricsSummary = MetricsSummary()
    durations: RunDurations = RunDurations()
    artifacts: list[str] = []
    error: JobError | None = None
    retries: int = 0
    """Times a transient failure was retried from the last checkpoint."""
    last_error: JobError | None = None
    """The latest failure, retried or not (`error` is set only once the run has failed)."""
    eval: EvalSummary | None = None
    finetune: FinetuneInfo | None = None
    """Set when the run started from `model.init_from`."""
    stopped_early: StoppedEarly | None = None
    """Set when the run ended before `max_steps` because val loss stopped improving."""


RUN_MANIFESTS = ManifestFile(RunManifest)
"""Reads and writes `models/<id>/manifest.json`."""


class MetricRecord(BaseModel):
    """One line of `metrics.jsonl`: a logged training step or an evaluation."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["train", "eval"]
    step: int
    loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    tokens_seen: int | None = None
    mfu: Annotated[
        float | None,
        Field(description="Model FLOPs utilisation: tokens/s x FLOPs per token / peak FLOP/s"),
    ] = None
    train_loss: float | None = None
    val_loss: float | None = None
    val_perplexity: float | None = None
    val_bits_per_byte: float | None = None
    time: Annotated[
        float | None,
        Field(description="When it was logged, in Unix seconds (absent in older records)"),
    ] = None

    def line(self) -> str:
        """The record as its line of `metrics.jsonl` (absent values left out, not zeros)."""
        return self.model_dump_json(exclude_none=True) + "\n"


def metrics_after(path: Path, after: int) -> tuple[list[MetricRecord], int]:
    """The records after the first `after` lines of `metrics.jsonl`, and how many complete
    lines it holds: the `after` that asks for what comes next."""
    records: list[MetricRecord] = []
    seen = 0
    if not path.is_file():
        return records, seen
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break  # being written right now: it counts once it is whole
            seen += 1
            if seen <= after:
                continue
            try:
                records.append(MetricRecord.model_validate_json(line))
            except ValidationError:
                continue  # damaged; still counted, so offsets stay line numbers
    return records, seen


def keep_metrics_until(path: Path, step: int) -> None:
    """Drop records the resumed loop will write again: steps after `step`, and the
    evaluation at `step` itself (the loop evaluates before its first step)."""
    if not path.is_file():
        return
    kept: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = MetricRecord.model_validate_json(line)
        except ValidationError:
            continue  # a torn last line from the crash
        if record.step < step or (record.step == step and record.kind != "eval"):
            kept.append(record.line())
    write_text(path, "".join(kept))
