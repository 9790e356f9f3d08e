"""Random training windows from a token file, reproducible from a seed and a saved state."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

TokenArray = npt.NDArray[np.uint16] | npt.NDArray[np.uint32]
"""Token ids of one split, usually memory-mapped from its `.bin` file."""


class WindowSampler:
    """Draws `batch` windows of `block + 1` tokens (inputs and shifted targets) per call."""

    def __init__(self, tokens: TokenArray, block: int, batch: int, seed: int) -> None:
        if len(tokens) <= block + 1:
            raise ValueError(f"{len(tokens)} tokens cannot fill a window of {block + 1}")
        self._tokens = tokens
        self._block = block
        self._batch = batch
        self._offsets = np.arange(block + 1, dtype=np.int64)
        self.generator = torch.Generator().manual_seed(seed)

    def next(self) -> tuple[Tensor, Tensor]:
        """(x, y), each (B, T) int64; y is x shifted one token ahead."""
        starts = torch.randint(
            len(self._tokens) - self._block - 1, (self._batch,), generator=self.generator
        )
        index = starts.numpy()[:, None] + self._offsets  # (B, T+1)
        window = torch.from_numpy(self._tokens[index].astype(np.int64))
        return window[:, :-1], window[:, 1:]

    def state(self) -> Tensor:
        return self.generator.get_state()

    def restore(self, state: Tensor) -> None:
        self.generator.set_state(state)


def to_long_tensor(tokens: TokenArray) -> Tensor:
    """All of a split's ids as one int64 tensor (for evaluation passes over it)."""
    return torch.from_numpy(tokens.astype(np.int64))
