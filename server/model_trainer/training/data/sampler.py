"""Random training windows from a token file, reproducible from a seed and a saved state."""

from __future__ import annotations

import torch
from torch import Tensor

from model_trainer.infra.arrays import TokenArray, to_long_tensor, windows

__all__ = ["TokenArray", "WindowSampler", "to_long_tensor"]


class WindowSampler:
    """Draws `batch` windows of `block + 1` tokens (inputs and shifted targets) per call."""

    def __init__(self, tokens: TokenArray, block: int, batch: int, seed: int) -> None:
        if len(tokens) <= block + 1:
            raise ValueError(f"{len(tokens)} tokens cannot fill a window of {block + 1}")
        self._tokens = tokens
        self._block = block
        self._batch = batch
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[Tensor, Tensor]:
        """(x, y), each (B, T) int64; y is x shifted one token ahead."""
        starts = torch.randint(
            len(self._tokens) - self._block - 1, (self._batch,), generator=self.generator
        )
        window = windows(self._tokens, starts, self._block + 1)  # (B, T+1)
        return window[:, :-1], window[:, 1:]

    def state(self) -> Tensor:
        return self.generator.get_state()

    def restore(self, state: Tensor) -> None:
        self.generator.set_state(state)
