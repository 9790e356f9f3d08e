"""Learning-rate schedule: linear warmup, cosine decay, then a floor."""

from __future__ import annotations

import math

from model_trainer.training.config import TrainerSpec


def get_lr(step: int, spec: TrainerSpec) -> float:
    """The learning rate for optimizer step `step` (0-based)."""
    if step < spec.warmup_steps:
        return spec.learning_rate * (step + 1) / (spec.warmup_steps + 1)
    if step >= spec.max_steps:
        return spec.min_lr
    span = max(1, spec.max_steps - spec.warmup_steps)
    ratio = (step - spec.warmup_steps) / span
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return spec.min_lr + coeff * (spec.learning_rate - spec.min_lr)
