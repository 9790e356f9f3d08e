"""Where a running job is: reported by the loop, kept in Redis and the manifest."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Phase = Literal["preparing", "training", "evaluating", "finalising"]
"""What a running job is doing: preparing its data, training steps, evaluating between
them, or finalising after its last step (the final evaluation and the export)."""


class Progress(BaseModel):
    """Where a running job is; also kept in Redis for cheap polling."""

    model_config = ConfigDict(extra="forbid")

    step: int = 0
    max_steps: int = 0
    tokens_seen: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    eta_s: float | None = None
    mfu: float | None = None
    """Model FLOPs utilisation: tokens/s x the family's FLOPs per token / the device's
    measured peak FLOP/s (None until measured)."""
    phase: Phase | None = None
    """None before the job starts and once it ended."""
