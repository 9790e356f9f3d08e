"""Typed helpers for a model family's `torch`/`transformers` calls (see `plugin.py`)."""

from __future__ import annotations

from model_trainer.training.hf_calls import (
    causal_logits,
    compiled,
    evaluation_mode,
    quiet_transformers,
    record_special_tokens,
)

__all__ = [
    "causal_logits",
    "compiled",
    "evaluation_mode",
    "quiet_transformers",
    "record_special_tokens",
]
