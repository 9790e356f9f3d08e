"""The numpy operations whose stubs carry `Any` (comparisons, fancy indexing, `astype`,
`memmap`), each behind a typed function; the modules that move token ids and split corpora
stay fully checked. Named in pyproject as exempt from `disallow_any_expr`."""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

TokenArray = npt.NDArray[np.uint16] | npt.NDArray[np.uint32]
"""Token ids of one split, usually memory-mapped from its `.bin` file."""
Bytes = npt.NDArray[np.uint8]
Offsets = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


def line_ends(data: Bytes, newline: int) -> Offsets:
    """Offsets just past each `newline` byte."""
    ends: Offsets = (np.flatnonzero(data == newline) + 1).astype(np.int64)
    return ends


def at_or_after(offsets: Offsets, start: int) -> Mask:
    """Which offsets lie at or after `start`."""
    mask: Mask = offsets >= start
    return mask


def count(mask: Mask) -> int:
    return int(mask.sum())


def line_mask(held: Mask, starts: Offsets, ends: Offsets) -> Mask:
    """A byte mask from a per-line one: each line's flag repeated over its bytes."""
    mask: Mask = np.repeat(held, ends - starts)
    return mask


def windows(tokens: TokenArray, starts: Tensor, length: int) -> Tensor:
    """(B, length) int64 windows of `tokens` beginning at each of the (B,) `starts`."""
    index = starts.numpy()[:, None] + np.arange(length, dtype=np.int64)  # (B, T+1)
    picked: npt.NDArray[np.int64] = tokens[index].astype(np.int64)
    return torch.from_numpy(picked)


def to_long_tensor(tokens: TokenArray) -> Tensor:
    """All of a split's ids as one int64 tensor (for evaluation passes over it)."""
    ids: npt.NDArray[np.int64] = tokens.astype(np.int64)
    return torch.from_numpy(ids)


def open_tokens(path: Path, dtype: str) -> TokenArray:
    """A read-only memory map of a token file (an empty array for an empty file)."""
    if path.stat().st_size == 0:
        empty: TokenArray = np.zeros(0, dtype=np.uint16)
        return empty
    if dtype == "uint16":
        small: npt.NDArray[np.uint16] = np.memmap(path, dtype=np.uint16, mode="r")
        return small
    large: npt.NDArray[np.uint32] = np.memmap(path, dtype=np.uint32, mode="r")
    return large


def strictly_ascending(values: array[int]) -> bool:
    """Whether each of an `array("q")`'s values is above the one before (vectorized: an
    index of a million lines is checked in about a millisecond)."""
    view = np.frombuffer(values, dtype=np.int64)
    return bool(np.all(view[1:] > view[:-1]))


def non_decreasing(values: array[int]) -> bool:
    """Whether no value of an `array("q")` is below the one before."""
    view = np.frombuffer(values, dtype=np.int64)
    return bool(np.all(view[1:] >= view[:-1]))
