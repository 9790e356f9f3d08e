"""Checkpoint payloads and optimizer groups: torch's `dict[str, Any]` values, checked.

`torch.load` returns `Any`, state dicts and `param_groups` are dicts of `Any`; this module is
named in pyproject as exempt from `disallow_any_expr`. What leaves it is typed: tensors, the
checkpoint's metadata as JSON, and a `LoadedState` whose parts are applied to a module and an
optimizer here, where their types are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import torch
from pydantic import TypeAdapter, ValidationError
from torch import Tensor, nn

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject

_JSON_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def _unreadable(path: Path, why: str) -> AppError:
    return AppError(ErrorCode.DATA_INVALID, f"checkpoint {path.name} is unreadable: {why}")


class LoadedState:
    """A checkpoint read back, its parts checked on the way in."""

    def __init__(self, path: Path) -> None:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict):
            raise _unreadable(path, "not a mapping")
        try:
            self.meta: JsonObject = _JSON_OBJECT.validate_python(payload.get("meta"))
        except ValidationError:
            raise _unreadable(path, "its metadata is not a JSON object") from None
        self._path = path
        self._payload = payload

    def _tensor(self, key: str) -> Tensor:
        value = self._payload.get(key)
        if not isinstance(value, Tensor):
            raise _unreadable(self._path, f"'{key}' is not a tensor")
        return value

    def sampler_state(self) -> Tensor:
        return self._tensor("sampler")

    def torch_rng(self) -> Tensor:
        return self._tensor("torch_rng")

    def load_model(self, module: nn.Module) -> None:
        weights = self._payload.get("model")
        if not isinstance(weights, dict):
            raise _unreadable(self._path, "no model weights")
        module.load_state_dict(weights)

    def load_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        state = self._payload.get("optimizer")
        if not isinstance(state, dict):
            raise _unreadable(self._path, "no optimizer state")
        optimizer.load_state_dict(state)


def save_state(
    handle: BinaryIO,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    sampler_state: Tensor,
    meta: JsonObject,
) -> None:
    """Weights, optimizer, the sampler's and torch's RNG states and `meta`, in one file."""
    payload = {
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "sampler": sampler_state,
        "torch_rng": torch.get_rng_state(),
        "meta": meta,
    }
    torch.save(payload, handle)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
