"""Checkpoint payloads and optimizer groups: torch's `dict[str, Any]` values, checked.

`torch.load` returns `Any`, state dicts and `param_groups` are dicts of `Any`; this module is
named in pyproject as exempt from `disallow_any_expr`. What leaves it is typed: tensors, the
checkpoint's metadata as JSON, and a `LoadedState` whose parts are applied to a module and an
optimizer here, where their types are checked. `transformers`' model class is typed with
`Any` too: a module is narrowed to it here (`pretrained_model`), for `peft`. Calling a module
is untyped as well: `DistributedDataParallel`'s forward is called here (`ReplicatedLogits`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import torch
from pydantic import TypeAdapter, ValidationError
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from transformers import PreTrainedModel

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

    def load_model(self, module: nn.Module, trainable_only: bool = False) -> None:
        """The weights back into `module`; `trainable_only`: the checkpoint holds only the
        parameters that train (a LoRA run's adapters), and every one of them must be there."""
        weights = self._payload.get("model")
        if not isinstance(weights, dict):
            raise _unreadable(self._path, "no model weights")
        if not trainable_only:
            module.load_state_dict(weights)
            return
        wanted = set(trainable_state(module))
        if set(weights) != wanted:
            raise AppError(
                ErrorCode.CHECKPOINT_MISMATCH,
                f"{self._path.name} holds other trainable weights than the run's model "
                f"({len(weights)} saved, {len(wanted)} trainable)",
            )
        module.load_state_dict(weights, strict=False)

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
    trainable_only: bool = False,
) -> None:
    """Weights, optimizer, the sampler's and torch's RNG states and `meta`, in one file;
    `trainable_only`: only the parameters that train (a LoRA run's adapters), since the
    rest is rebuilt from where the run started."""
    payload = {
        "model": trainable_state(module) if trainable_only else module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "sampler": sampler_state,
        "torch_rng": torch.get_rng_state(),
        "meta": meta,
    }
    torch.save(payload, handle)


def trainable_state(module: nn.Module) -> dict[str, Tensor]:
    """The parameters of `module` that train, by their state-dict names."""
    return {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def pretrained_model(module: nn.Module) -> PreTrainedModel | None:
    """`module` as a `transformers` model (what `peft` adapts), or None if it is not one."""
    return module if isinstance(module, PreTrainedModel) else None


class _Logits(nn.Module):
    """A model's `logits` as a module's forward, so that `DistributedDataParallel` (which
    calls its module) runs through whatever forward the plugin's `logits` uses."""

    def __init__(self, module: nn.Module, logits: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.inner = module  # registers the parameters DDP synchronises
        self._logits = logits

    def forward(self, idx: Tensor) -> Tensor:
        return self._logits(idx)


class ReplicatedLogits:
    """`logits` through `DistributedDataParallel`: gradients are averaged over the ranks
    during backward (bucketed, overlapped with it), not after."""

    def __init__(
        self, module: nn.Module, logits: Callable[[Tensor], Tensor], device: torch.device
    ) -> None:
        ids = [device.index] if device.type == "cuda" else None
        self._ddp = DistributedDataParallel(_Logits(module, logits), device_ids=ids)

    def __call__(self, idx: Tensor) -> Tensor:
        out = self._ddp(idx)
        if not isinstance(out, Tensor):
            raise TypeError(f"logits gave {type(out).__name__}, not a tensor")
        return out

    def no_sync(self) -> AbstractContextManager[None]:
        """Accumulate gradients locally (every micro-batch but a step's last)."""
        return self._ddp.no_sync()
