"""What a training run is asked to do: the body of `POST /runs/train`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from model_trainer.core.json_types import JsonObject
from model_trainer.core.request_model import MAX_STEP_COUNT, PLUGIN_NAME, RequestModel
from model_trainer.jobs.labels import LabelName, LabelNotes, LabelTags
from model_trainer.tokenizers.corpus import HoldoutStrategy
from model_trainer.tokenizers.records import CorpusText


class Precision(StrEnum):
    """Numeric precision of the training step."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"


DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
CompileChoice = Literal["auto", "on", "off"]
"""`auto` compiles on CUDA, where it pays; on a CPU the compiled step measured no faster than
the eager one at the built-in sizes, so the compile time is never won back
(`bench/compile_breakeven.py`)."""


class InitFrom(RequestModel):
    """Weights people already have: an earlier completed run's export, or a Hugging Face
    model folder under `MODELS_ROOT`; exactly one of the two."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: Annotated[
        str | None, Field(max_length=64, description="A completed run whose export to start from")
    ] = None
    path: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=1024,
            description="A folder with `config.json`, the weights and `tokenizer.json`, "
            "relative to `MODELS_ROOT`",
        ),
    ] = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.run_id is None) == (self.path is None):
            raise ValueError("give exactly one of run_id and path")
        return self


class ModelSpec(RequestModel):
    """The architecture: a named size, with any field overridden; or, with `init_from`,
    the shape of the weights it names (only dropout and `max_seq_len` may change)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Annotated[
        str,
        Field(pattern=PLUGIN_NAME, description="A model plugin's name (`GET /backends`)"),
    ] = "gpt2"
    size: Annotated[str, Field(min_length=1, max_length=32)] = "nano"
    n_layer: Annotated[int, Field(ge=1, le=96)] | None = None
    n_head: Annotated[int, Field(ge=1, le=128)] | None = None
    n_embd: Annotated[int, Field(ge=8, le=12288)] | None = None
    max_seq_len: Annotated[int, Field(ge=2, le=32768)] = 256
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    options: Annotated[
        JsonObject,
        Field(description="The family's own options, as its schema in `GET /backends` says"),
    ] = {}
    init_from: InitFrom | None = None


class DataSpec(CorpusText):
    """Which text (and, for structured corpora, which of its columns), tokenized how, split
    how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokenizer_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="Required, unless `model.init_from` names weights: their tokenizer "
            "is then the run's (and a different one is refused)",
        ),
    ] = None
    corpus_path: Annotated[str, Field(min_length=1, max_length=1024)]
    holdout_fraction: Annotated[float, Field(gt=0.0, le=0.5)] = 0.1
    holdout_strategy: HoldoutStrategy = HoldoutStrategy.RANDOM_LINES


MAX_NPROC = 64
"""Processes one run may use (one machine's GPUs, or a share of its cores)."""


class TrainerSpec(RequestModel):
    """The optimisation: nanoGPT's knobs, with its small-model defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: Annotated[int, Field(ge=1, le=MAX_STEP_COUNT)] = 2000
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 12
    grad_accum_steps: Annotated[int, Field(ge=1, le=1024)] = 1
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 1e-3
    min_lr: Annotated[float, Field(ge=0.0, le=1.0)] = 1e-4
    warmup_steps: Annotated[int, Field(ge=0, le=MAX_STEP_COUNT)] = 100
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    beta1: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.9
    beta2: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.99
    grad_clip: Annotated[float, Field(ge=0.0)] = 1.0
    eval_interval: Annotated[int, Field(ge=1, le=MAX_STEP_COUNT)] = 250
    eval_steps: Annotated[int, Field(ge=1, le=10_000)] = 20
    checkpoint_interval: Annotated[int, Field(ge=1, le=MAX_STEP_COUNT)] = 500
    log_interval: Annotated[int, Field(ge=1, le=MAX_STEP_COUNT)] = 10
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 1337
    device: DeviceChoice = "auto"
    precision: Precision = Precision.AUTO
    compile: CompileChoice = "auto"
    nproc: Annotated[
        int,
        Field(
            ge=1,
            le=MAX_NPROC,
            title="Processes",
            description="processes that train the run together (torch.distributed, one per "
            "GPU on CUDA); each takes batch_size / nproc of every batch",
        ),
    ] = 1
    early_stopping_patience: Annotated[
        int | None,
        Field(
            ge=1,
            le=1000,
            description="stop after this many evaluations without a better val loss (the "
            "run ends completed, exporting the best checkpoint); null never stops early",
        ),
    ] = None
    eval_samples: Annotated[
        int,
        Field(
            ge=0,
            le=16,
            description="samples generated at each evaluation during training (0: none)",
        ),
    ] = 3
    eval_sample_tokens: Annotated[
        int, Field(ge=1, le=1024, description="new tokens of each evaluation sample")
    ] = 48

    @model_validator(mode="after")
    def _min_lr_below_lr(self) -> Self:
        if self.min_lr > self.learning_rate:
            raise ValueError("min_lr must not exceed learning_rate")
        return self

    @model_validator(mode="after")
    def _batch_splits_over_processes(self) -> Self:
        if self.batch_size % self.nproc:
            raise ValueError(
                f"batch_size {self.batch_size} does not split over nproc {self.nproc} "
                "processes: each takes an equal share of every batch"
            )
        return self


class FinetuneMethod(StrEnum):
    """What trains when a run starts from `model.init_from`."""

    FULL = "full"
    """Every weight."""
    LORA = "lora"
    """Low-rank adapters beside the frozen weights (`peft`); the export merges them in."""


LORA_TARGET = r"^[A-Za-z0-9_.]{1,128}$"
"""A module name (or a name's last parts) LoRA adapts, as `peft` matches them."""


class FinetuneSpec(RequestModel):
    """How a run that starts from `model.init_from` trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: FinetuneMethod = FinetuneMethod.FULL
    rank: Annotated[int, Field(ge=1, le=1024, description="LoRA: the adapters' rank")] = 8
    alpha: Annotated[
        int, Field(ge=1, le=4096, description="LoRA: scale (alpha / rank) of the update")
    ] = 16
    dropout: Annotated[float, Field(ge=0.0, lt=1.0, description="LoRA: the adapters' dropout")] = (
        0.0
    )
    target_modules: Annotated[
        list[Annotated[str, Field(pattern=LORA_TARGET)]] | None,
        Field(
            min_length=1,
            max_length=64,
            description="LoRA: the modules adapted; the family's default when absent",
        ),
    ] = None
    export_adapter: Annotated[
        bool,
        Field(description="LoRA: also export the adapters alone (`PeftModel.from_pretrained`)"),
    ] = False

    @model_validator(mode="after")
    def _lora_settings_need_lora(self) -> Self:
        if self.method is not FinetuneMethod.LORA and (
            self.export_adapter or self.target_modules is not None
        ):
            raise ValueError("target_modules and export_adapter need method 'lora'")
        return self


class RunConfig(RequestModel):
    """A whole run request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelSpec = ModelSpec()
    data: DataSpec
    trainer: TrainerSpec = TrainerSpec()
    finetune: FinetuneSpec = FinetuneSpec()
    name: Annotated[LabelName | None, Field(description="What people call the run")] = None
    notes: LabelNotes | None = None
    tags: LabelTags = []
    baseline_run_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="A run whose evaluations this run's are compared with (regressions)",
        ),
    ] = None

    @model_validator(mode="after")
    def _weights_and_tokenizer(self) -> Self:
        if self.model.init_from is None:
            if self.data.tokenizer_id is None:
                raise ValueError("data.tokenizer_id is required unless model.init_from is given")
            if self.finetune.method is not FinetuneMethod.FULL:
                raise ValueError("finetune.method 'lora' needs model.init_from")
        return self


class EvalRequest(RequestModel):
    """What an evaluation job evaluates: a split of the run's data or another corpus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    split: Literal["train", "val"] = "val"
    corpus_path: str | None = None
