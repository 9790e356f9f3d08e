"""Random training windows from a token file, reproducible from a seed and a saved state."""

from __future__ import annotations

import torch
from torch import Tensor

from model_trainer.infra.arrays import TokenArray, to_long_tensor, windows

__all__ = ["TokenArray", "WindowSampler", "to_long_tensor"]


class WindowSampler:
    """Draws `batch` windows of `block + 1` tokens (inputs and shifted targets) per call.

    In a run of `world` processes every one draws the same `batch` starts from the same
    generator and keeps only its own `batch / world` of them: the ranks' windows are
    disjoint, follow from the seed and the step alone, and together are exactly those one
    process would train on.
    """

    def __init__(
        self, tokens: TokenArray, block: int, batch: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        if len(tokens) <= block + 1:
            raise ValueError(f"{len(tokens)} tokens cannot fill a window of {block + 1}")
        if batch % world or not 0 <= rank < world:
            raise ValueError(f"rank {rank} of {world} cannot take a share of {batch} windows")
        self._tokens = tokens
        self._block = block
        self._batch = batch
        share = batch // world
        self._first = rank * share
        self._share = share
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[Tensor, Tensor]:
        """(x, y), each (B / world, T) int64; y is x shifted one token ahead."""
        starts = torch.randint(
            len(self._tokens) - self._block - 1, (self._batch,), generator=self.generator
        )
        window = windows(
            self._tokens, starts.narrow(0, self._first, self._share), self._block + 1
        )  # (B, T+1)
        return window[:, :-1], window[:, 1:]

    def state(self) -> Tensor:
        return self.generator.get_state()

    def restore(self, state: Tensor) -> None:
        self.generator.set_state(state)
