"""AdamW with nanoGPT's parameter groups, and setting its learning rate (`param_groups` are
dicts of `Any`: written in `torch_state.py`)."""

from __future__ import annotations

import torch
from torch import nn

from model_trainer.training.config import TrainerSpec
from model_trainer.training.loop.torch_state import set_lr

__all__ = ["make_optimizer", "set_lr"]


def make_optimizer(module: nn.Module, spec: TrainerSpec, device: torch.device) -> torch.optim.AdamW:
    """Weight decay on matrices (weights, embeddings), none on biases and norms."""
    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": spec.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups,
        lr=spec.learning_rate,
        betas=(spec.beta1, spec.beta2),
        # One fused kernel over all parameters instead of a Python loop of small ops: on CPU
        # the step is about 4x cheaper (6 vs 24 ms at 4/4/256), worth 1-7% of a training step.
        fused=device.type in ("cuda", "cpu"),
    )
