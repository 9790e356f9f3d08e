"""Checkpoints that describe themselves: weights, optimizer, step, RNG and sampler state.

Written to a temporary file and renamed, so the last and the best are always whole.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, TypeAdapter
from torch import Tensor

from model_trainer.core.contracts.model import Architecture, LanguageModel
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.infra.atomic import storage_error
from model_trainer.jobs.layout import BEST_CHECKPOINT, LAST_CHECKPOINT
from model_trainer.training.loop.torch_state import LoadedState, save_state

LAST = LAST_CHECKPOINT
BEST = BEST_CHECKPOINT
FULL_BELOW_BYTES = 1 << 20
"""A failed checkpoint write with less than this left on the disk is put down to a full disk."""


class EvalPoint(BaseModel):
    """Mean loss per split at one step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    train_loss: float
    val_loss: float


class CheckpointMeta(BaseModel):
    """The plain-value part of a checkpoint: all a resumed loop reports."""

    # Fields added after the first release default, so older checkpoints still load.
    model_config = ConfigDict(extra="forbid")

    step: int
    tokens_seen: int
    best_val_loss: float | None
    best_step: int | None = None
    last_eval: EvalPoint | None = None
    tokens_per_s: float | None = None
    architecture: Architecture
    config_json: str


_FIELDS: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def architecture_mismatch(saved: Architecture, current: Architecture) -> str | None:
    """The fields that differ, as `name saved vs current`; None when none do."""
    ours = _FIELDS.validate_json(saved.model_dump_json())
    theirs = _FIELDS.validate_json(current.model_dump_json())
    differ = [f"{k} {ours[k]!r} vs {theirs[k]!r}" for k in theirs if ours.get(k) != theirs[k]]
    return "; ".join(differ) or None


class Checkpointer:
    """Saves and restores training state in `folder`."""

    def __init__(self, folder: Path, trainable_only: bool = False) -> None:
        self.folder = folder
        self.trainable_only = trainable_only
        """Save and restore only the parameters that train (a LoRA run's adapters)."""

    def save(
        self,
        name: str,
        model: LanguageModel,
        optimizer: torch.optim.Optimizer,
        sampler_state: Tensor,
        meta: CheckpointMeta,
    ) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        tmp = self.folder / f".{name}.tmp"
        try:
            with tmp.open("wb") as handle:
                save_state(
                    handle,
                    model.module,
                    optimizer,
                    sampler_state,
                    _FIELDS.validate_json(meta.model_dump_json()),
                    self.trainable_only,
                )
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise storage_error(exc, f"checkpoint {name}") from exc
        except RuntimeError as exc:  # torch's zip writer reports a failed write this way
            free = shutil.disk_usage(self.folder).free  # measured before the temp file goes
            tmp.unlink(missing_ok=True)
            reason = "the disk is full" if free < FULL_BELOW_BYTES else "the write failed"
            raise AppError(
                ErrorCode.STORAGE_FAILED,
                f"cannot write checkpoint {name}: {reason} ({free:,} bytes were free; {exc})",
            ) from exc
        return path

    def restore(
        self,
        name: str,
        model: LanguageModel,
        optimizer: torch.optim.Optimizer,
        architecture: Architecture,
    ) -> tuple[CheckpointMeta, Tensor]:
        """Load everything back; returns the metadata and the sampler state."""
        state, meta = self._of(name, architecture)
        state.load_model(model.module, self.trainable_only)
        state.load_optimizer(optimizer)
        torch.set_rng_state(state.torch_rng())
        return meta, state.sampler_state()

    def load_weights(self, name: str, model: LanguageModel, architecture: Architecture) -> None:
        """Only the weights (those that train, for LoRA): what another process trained."""
        state, _ = self._of(name, architecture)
        state.load_model(model.module, self.trainable_only)

    def _of(self, name: str, architecture: Architecture) -> tuple[LoadedState, CheckpointMeta]:
        """The checkpoint, refused when saved for another architecture: checked before
        loading, since a state dict of another shape fails with a torch error that names
        tensors, and one of the same shape would load silently."""
        state = LoadedState(self.folder / name)
        meta = CheckpointMeta.model_validate(state.meta)
        differ = architecture_mismatch(meta.architecture, architecture)
        if differ is not None:
            raise AppError(
                ErrorCode.CHECKPOINT_MISMATCH,
                f"{name} was saved for another architecture than the run's "
                f"(checkpoint vs config): {differ}",
            )
        return state, meta

    def meta(self, name: str) -> CheckpointMeta:
        """The plain-value part of a checkpoint (step, tokens, best loss)."""
        return CheckpointMeta.model_validate(LoadedState(self.folder / name).meta)

    def exists(self, name: str) -> bool:
        return (self.folder / name).is_file()
