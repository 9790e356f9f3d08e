"""What a training run is asked to do: the body of `POST /runs/train`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from model_trainer.core.json_types import JsonObject
from model_trainer.core.request_model import MAX_STEP_COUNT, PLUGIN_NAME, RequestModel
from model_trainer.tokenizers.corpus import HoldoutStrategy


class Precision(StrEnum):
    """Numeric precision of the training step."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"


DeviceChoice = Literal["auto", "cpu", "cuda", "mps"]
CompileChoice = Literal["auto", "on", "off"]
"""`auto` compiles on CUDA, where it pays; on CPU the compile time outweighs the gain."""


class ModelSpec(RequestModel):
    """The architecture: a named size, with any field overridden."""

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


class DataSpec(RequestModel):
    """Which text, tokenized how, split how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokenizer_id: Annotated[str, Field(min_length=1, max_length=64)]
    corpus_path: Annotated[str, Field(min_length=1, max_length=1024)]
    holdout_fraction: Annotated[float, Field(gt=0.0, le=0.5)] = 0.1
    holdout_strategy: HoldoutStrategy = HoldoutStrategy.RANDOM_LINES


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

    @model_validator(mode="after")
    def _min_lr_below_lr(self) -> Self:
        if self.min_lr > self.learning_rate:
            raise ValueError("min_lr must not exceed learning_rate")
        return self


class RunConfig(RequestModel):
    """A whole run request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelSpec = ModelSpec()
    data: DataSpec
    trainer: TrainerSpec = TrainerSpec()


class EvalRequest(RequestModel):
    """What an evaluation job evaluates: a split of the run's data or another corpus."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    split: Literal["train", "val"] = "val"
    corpus_path: str | None = None
