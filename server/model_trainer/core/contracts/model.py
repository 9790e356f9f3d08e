"""The model backend contract: resolve an architecture, build, export, load, run."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from model_trainer.core.contracts.tokenizer import SpecialTokens
from model_trainer.core.json_types import JsonObject

__all__ = [
    "MODEL_METHODS",
    "Architecture",
    "CachedDecoding",
    "FineTunable",
    "KeyValues",
    "LanguageModel",
    "ModelBackend",
    "ModelSize",
    "SpecialTokens",
]


class Architecture(BaseModel):
    """Resolved architecture of a model: a named size plus overrides, in the terms every
    decoder-only family shares; what only one family has goes in `options`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    n_layer: int
    n_head: int
    n_embd: int
    max_seq_len: int
    vocab_size: int
    dropout: float
    options: JsonObject = {}


class ModelSize(BaseModel):
    """A named size: the shape it gives and, optionally, the context and dropout and any of
    the family's `options` (key/value heads, MLP width, ...). A request's own fields win
    over the size's, and its `options` are merged over the size's before the family's
    options model checks them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_layer: int
    n_head: int
    n_embd: int
    max_seq_len: int | None = None
    dropout: float | None = None
    options: JsonObject = {}


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


KeyValues = list[tuple[Tensor, Tensor]]
"""A decoder's cached keys and values: one (keys, values) pair per layer, each shaped
(batch, key/value heads, tokens, head width)."""


@runtime_checkable
class CachedDecoding(Protocol):
    """What a `LanguageModel` adds, if it can, so that generation goes on from cached keys
    and values instead of running the whole text again for every new token. A model
    without it still generates, by the slower way."""

    def forward_cached(
        self, ids: Tensor, past: KeyValues | None, mask: Tensor | None, positions: Tensor
    ) -> tuple[Tensor, KeyValues]:
        """(B, T) new ids after `past` -> their (B, T, vocab) logits and the keys and values
        of `past` and them. `mask` (B, past + T; 1 keep, 0 ignore) hides the left padding
        that lets rows of different lengths share a batch; `positions` (B, T) are each new
        token's place in its own text, padding not counted."""
        ...

    def keeps_cache_when_sliding(self) -> bool:
        """True when cached keys stay valid as the context window slides past its limit, so
        the oldest entries are dropped and the rest kept (a family whose attention is
        itself windowed); False when the window must run again from its new start at every
        token: learned positions move, and in a full-attention stack even rotary keys past
        the first layer carry what the dropped tokens contributed."""
        ...


@runtime_checkable
class ModelBackend(Protocol):
    """A plugin that builds, counts, exports and reloads one family of models."""

    def name(self) -> str:
        """The family, as requests name it (the plugin's entry-point name)."""
        ...

    def sizes(self) -> dict[str, ModelSize]:
        """Named sizes, by name (requests pick one as `model.size`)."""
        ...

    def options_model(self) -> type[BaseModel]:
        """The pydantic model (`extra="forbid"`) of this family's own `options`."""
        ...

    def parameter_count(self, architecture: Architecture) -> int:
        """Parameters of the model `build` would make (for limits and memory estimates)."""
        ...

    def flops_per_token(self, architecture: Architecture) -> int:
        """Training FLOPs per token (forward and backward): the service's model FLOPs
        utilisation divides the measured tokens per second times this by the device's peak."""
        ...

    def activation_bytes_per_token(self, architecture: Architecture) -> int:
        """Bytes autograd keeps per token of a micro-batch in fp32 (activations, logits and
        the loss's copies of them), for the memory estimate that admits or refuses a run."""
        ...

    def check(self, architecture: Architecture) -> None:
        """Refuse, when a request arrives, what `build` could not make: raise
        `AppError(ErrorCode.CONFIG_INVALID, "model.<field>: ...")` naming the field (key/value
        heads that do not divide the heads, an odd rotary width, ...). The shared fields are
        already in range and `options` already passed `options_model`."""
        ...

    def build(self, architecture: Architecture) -> LanguageModel: ...

    def export(
        self,
        model: LanguageModel,
        architecture: Architecture,
        out_dir: Path,
        special: SpecialTokens = SpecialTokens(),  # noqa: B008 - frozen, so shared safely
    ) -> list[str]:
        """Write what `AutoModelForCausalLM.from_pretrained` loads, with the tokenizer's
        `special` ids in its config and generation config; returns the files."""
        ...

    def load(self, export_dir: Path) -> LanguageModel:
        """Load what `export` wrote."""
        ...


@runtime_checkable
class FineTunable(Protocol):
    """What a model plugin adds, if it likes, so that runs can start from weights people
    already have (`model.init_from`): a Hugging Face folder of its family, or an earlier
    run's export. A plugin without these methods still loads; its runs train from scratch."""

    def architecture_of(self, config: JsonObject) -> Architecture | None:
        """The architecture a folder's `config.json` describes (its `model_type` and shape,
        `max_seq_len` being the longest context the model takes), or None when the folder is
        not of this family."""
        ...

    def from_pretrained(self, folder: Path, architecture: Architecture) -> LanguageModel:
        """The folder's weights, ready to train (training mode, fp32), with the
        architecture's dropout; the shape and the context table stay the folder's."""
        ...

    def lora_targets(self) -> list[str]:
        """The module names LoRA adapts by default in this family (`c_attn`, `q_proj`, ...)."""
        ...


MODEL_METHODS = (
    "name",
    "sizes",
    "options_model",
    "parameter_count",
    "flops_per_token",
    "activation_bytes_per_token",
    "check",
    "build",
    "export",
    "load",
)
"""What a model plugin must have, named when one lacks some."""
