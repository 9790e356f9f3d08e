"""What the training loop needs to know of the processes that train one run together.

One process is the common case and costs nothing here. With several (`trainer.nproc`,
launched by `torch.distributed.run`), each rank holds the whole model, trains on its share of
every batch, and `DistributedDataParallel` averages the gradients, so the ranks' weights stay
equal and equal to one process's given the same global batch. Only rank 0 writes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.distributed as dist
from torch import Tensor

from model_trainer.core.contracts.model import LanguageModel
from model_trainer.training.loop.torch_state import ReplicatedLogits

LogitsFn = Callable[[Tensor], Tensor]
"""(B, T) ids -> (B, T, V) next-token logits (a `LanguageModel.logits`)."""


class Replicas:
    """This process's place among the run's processes (alone: rank 0 of 1)."""

    def __init__(self, rank: int = 0, world: int = 1) -> None:
        self.rank = rank
        self.world = world

    @property
    def writer(self) -> bool:
        """Rank 0 alone writes checkpoints and reports (the others hold the same state)."""
        return self.rank == 0

    def forward(self, model: LanguageModel, device: torch.device) -> Forward:
        """How training calls the model: its own `logits` alone, or through DDP."""
        if self.world == 1:
            return Forward(model.logits, None)
        return Forward(model.logits, ReplicatedLogits(model.module, model.logits, device))

    def agree(self, wish: int, device: torch.device) -> int:
        """The strongest of every rank's wish to stop (0: go on), so that all stop at the
        same step: a rank that stopped alone would leave the others waiting in backward."""
        if self.world == 1:
            return wish
        flag = torch.full((1,), wish, dtype=torch.int64, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def mean(self, value: Tensor) -> Tensor:
        """A scalar averaged over the ranks (each saw its own share of the batch), so that
        every rank reports, and judges divergence by, the same global figure."""
        if self.world == 1:
            return value
        total = value.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.world


class Forward:
    """Training's forward: through DDP when there are several ranks."""

    def __init__(self, logits: LogitsFn, replicated: ReplicatedLogits | None) -> None:
        self._logits = logits
        self._replicated = replicated

    def __call__(self, idx: Tensor) -> Tensor:
        if self._replicated is None:
            return self._logits(idx)
        return self._replicated(idx)

    def accumulating(self, last: bool) -> AbstractContextManager[None]:
        """Around one micro-batch: gradients are averaged only on a step's last one."""
        if self._replicated is None or last:
            return nullcontext()
        return self._replicated.no_sync()
