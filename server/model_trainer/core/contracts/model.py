"""The model backend contract: resolve an architecture, build, export, load, run."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn


class Architecture(BaseModel):
    """Resolved architecture of a model (named size plus overrides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    n_layer: int
    n_head: int
    n_embd: int
    max_seq_len: int
    vocab_size: int
    dropout: float

    def parameter_estimate(self) -> int:
        """Parameters of a GPT-2 shaped model (tied embeddings), for limits and FLOPs."""
        per_layer = 12 * self.n_embd * self.n_embd + 13 * self.n_embd
        embeddings = (self.vocab_size + self.max_seq_len) * self.n_embd
        return self.n_layer * per_layer + embeddings + 2 * self.n_embd


class LanguageModel(Protocol):
    """A causal language model as the training loop sees it."""

    @property
    def module(self) -> nn.Module:
        """The torch module (for parameters, state dicts, train/eval mode)."""
        ...

    def logits(self, idx: Tensor) -> Tensor:
        """(B, T) token ids -> (B, T, vocab) next-token logits."""
        ...

    def compile(self) -> None:
        """Run `logits` through `torch.compile` from now on (state dicts are unchanged)."""
        ...


class ModelBackend(Protocol):
    """A plugin that builds, exports and reloads one family of models."""

    def name(self) -> str: ...

    def sizes(self) -> dict[str, tuple[int, int, int]]:
        """Named sizes as (n_layer, n_head, n_embd)."""
        ...

    def build(self, architecture: Architecture) -> LanguageModel: ...

    def export(self, model: LanguageModel, architecture: Architecture, out_dir: Path) -> list[str]:
        """Write the model in its ecosystem's standard format; returns the files written."""
        ...

    def load(self, export_dir: Path) -> LanguageModel:
        """Load what `export` wrote."""
        ...
