"""GPT-2 on `transformers`: built from a `GPT2Config` (never downloaded), exported as HF files.

The untyped calls (the module's forward, `transformers`' logging and generation config) go
through `model_trainer.plugin_hf`; this module is checked like the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor
from transformers import GPT2Config, GPT2LMHeadModel

from model_trainer.plugin import (
    AppError,
    Architecture,
    ErrorCode,
    JsonObject,
    KeyValues,
    LanguageModel,
    ModelSize,
    SpecialTokens,
)
from model_trainer.plugin_hf import (
    HfCausalLM,
    config_float,
    config_int,
    evaluation_mode,
    load_pretrained,
    quiet_transformers,
    save_pretrained,
)
from model_trainer.plugins.gpt2_lean import LeanGpt2, lean_gpt2

quiet_transformers()


class Gpt2Options(BaseModel):
    """GPT-2 has no options beyond the shared architecture fields."""

    model_config = ConfigDict(extra="forbid")


SIZES: dict[str, ModelSize] = {
    "nano": ModelSize(n_layer=4, n_head=4, n_embd=128),
    "tiny": ModelSize(n_layer=4, n_head=4, n_embd=256),
    "mini": ModelSize(n_layer=6, n_head=6, n_embd=384),
    "small": ModelSize(n_layer=12, n_head=12, n_embd=768),
}
"""Named sizes; `small` is the GPT-2 124M shape (GPT-2 has no options for a size to set)."""


def gpt2_config(arch: Architecture, bos_id: int, eos_id: int) -> GPT2Config:
    return GPT2Config(
        vocab_size=arch.vocab_size,
        n_positions=arch.max_seq_len,
        n_embd=arch.n_embd,
        n_layer=arch.n_layer,
        n_head=arch.n_head,
        resid_pdrop=arch.dropout,
        embd_pdrop=arch.dropout,
        attn_pdrop=arch.dropout,
        # The exact (erf) GELU, as nanoGPT uses, rather than GPT-2's tanh approximation: on
        # CPU its forward and backward take 2.5x less time (7 vs 18 ms at 4096 x 1024, two
        # threads), 3-7% of a step at our sizes; the two functions differ by under 1e-3.
        activation_function="gelu",
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=True,
    )


def refuse_unmodelled_gpt2(config: JsonObject, n_embd: int) -> None:
    """Refuse a GPT-2 `config.json` whose shape keys differ from what `parameter_count` and
    the memory estimate model (transformers would load it, and the counts would be off): an
    MLP width other than 4 x n_embd, an untied output layer, cross-attention layers."""
    n_inner = config.get("n_inner")
    unmodelled: list[tuple[str, str]] = []
    if n_inner is not None and n_inner != 4 * n_embd:
        unmodelled.append(("n_inner", f"null or 4 x n_embd ({4 * n_embd})"))
    if config.get("tie_word_embeddings", True) is not True:
        unmodelled.append(("tie_word_embeddings", "true"))
    if config.get("add_cross_attention", False) is not False:
        unmodelled.append(("add_cross_attention", "false"))
    if unmodelled:
        key, expected = unmodelled[0]
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.init_from: config.json's '{key}' is {config.get(key)!r}; the gpt2 plugin "
            f"models only {expected}",
        )


class Gpt2Model(HfCausalLM[GPT2LMHeadModel]):
    """`LanguageModel` over `GPT2LMHeadModel`. With `lean` (the models `build` makes),
    `logits` computes the same function through `gpt2_lean` rather than HF's forward, for
    as long as the module keeps the structure that was verified; otherwise, and for models
    read from folders, HF's forward."""

    def __init__(self, model: GPT2LMHeadModel, lean: bool = False) -> None:
        super().__init__(model)
        self._lean: LeanGpt2 | None = lean_gpt2(model) if lean else None
        self._lean_forward: Callable[[Tensor], Tensor] | None = self._lean
        # Cached decoding (generation, samples) goes the lean way for any model of the
        # verified structure, one read from an export too: per new token HF's forward
        # spends more on its own bookkeeping than on the arithmetic at these sizes.
        self._decoder = self._lean or lean_gpt2(model, decoding=True)

    def forward_cached(
        self, ids: Tensor, past: KeyValues | None, mask: Tensor | None, positions: Tensor
    ) -> tuple[Tensor, KeyValues]:
        decoder = self._decoder
        # The training path's decoder holds in any mode (no dropout); one built only to
        # decode, in evaluation mode, where dropout is off.
        exact = decoder is self._lean or not self.hf_model.training
        if decoder is not None and decoder.intact() and exact:
            return decoder.cached(ids, past, mask, positions)
        return super().forward_cached(ids, past, mask, positions)

    def logits(self, idx: Tensor) -> Tensor:
        if self._lean_forward is not None and self._lean is not None and self._lean.intact():
            return self._lean_forward(idx)
        return super().logits(idx)

    def compile(self) -> None:
        super().compile()
        if self._lean is not None:
            self._lean_forward = torch.compile(self._lean)


class Gpt2Backend:
    """`ModelBackend` for GPT-2 shaped models."""

    def __init__(self, bos_id: int = 0, eos_id: int = 0) -> None:
        self._bos_id = bos_id
        self._eos_id = eos_id

    def name(self) -> str:
        return "gpt2"

    def sizes(self) -> dict[str, ModelSize]:
        return dict(SIZES)

    def options_model(self) -> type[BaseModel]:
        return Gpt2Options

    def parameter_count(self, architecture: Architecture) -> int:
        """Blocks (attention, MLP, two layer norms), token and position embeddings (the
        output layer shares the token embedding), and the final layer norm."""
        d = architecture.n_embd
        per_layer = 12 * d * d + 13 * d
        embeddings = (architecture.vocab_size + architecture.max_seq_len) * d
        return architecture.n_layer * per_layer + embeddings + 2 * d

    def flops_per_token(self, architecture: Architecture) -> int:
        """6 per parameter (forward and backward) plus attention's 12 x layers x T x width."""
        a = architecture
        return 6 * self.parameter_count(a) + 12 * a.n_layer * a.max_seq_len * a.n_embd

    def activation_bytes_per_token(self, architecture: Architecture) -> int:
        """Fitted to peak RSS measured on CPU (docs/RELIABILITY.md): about 80 bytes per
        width per layer, 18 per vocabulary entry (the logits and the loss's copies), 16 per
        width for the embeddings. SDPA keeps no T x T matrix, so T does not appear."""
        a = architecture
        return 80 * a.n_layer * a.n_embd + 18 * a.vocab_size + 16 * a.n_embd

    def check(self, architecture: Architecture) -> None:
        if architecture.n_embd % architecture.n_head:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"model.n_embd: {architecture.n_embd} is not divisible by n_head "
                f"{architecture.n_head}",
            )

    def build(self, architecture: Architecture) -> LanguageModel:
        config = gpt2_config(architecture, self._bos_id, self._eos_id)
        config._attn_implementation = "sdpa"
        return Gpt2Model(GPT2LMHeadModel(config), lean=True)

    def export(
        self,
        model: LanguageModel,
        architecture: Architecture,
        out_dir: Path,
        special: SpecialTokens = SpecialTokens(),  # noqa: B008 - frozen, so shared safely
    ) -> list[str]:
        if not isinstance(model, Gpt2Model):
            raise AppError(ErrorCode.CONFIG_INVALID, "only GPT-2 models export as GPT-2")
        return save_pretrained(model.hf_model, out_dir, special, architecture.max_seq_len)

    def load(self, export_dir: Path) -> LanguageModel:
        model = GPT2LMHeadModel.from_pretrained(str(export_dir), local_files_only=True)
        evaluation_mode(model)
        return Gpt2Model(model)

    # FineTunable: runs that start from a GPT-2 folder or an earlier GPT-2 run's export

    def architecture_of(self, config: JsonObject) -> Architecture | None:
        if config.get("model_type") != "gpt2":
            return None
        refuse_unmodelled_gpt2(config, config_int(config, "n_embd"))
        return Architecture(
            family="gpt2",
            n_layer=config_int(config, "n_layer"),
            n_head=config_int(config, "n_head"),
            n_embd=config_int(config, "n_embd"),
            max_seq_len=config_int(config, "n_positions"),
            vocab_size=config_int(config, "vocab_size"),
            dropout=config_float(config, "resid_pdrop", 0.0),
        )

    def from_pretrained(self, folder: Path, architecture: Architecture) -> LanguageModel:
        d = architecture.dropout
        dropout: dict[str, float | int | str] = {
            "resid_pdrop": d,
            "embd_pdrop": d,
            "attn_pdrop": d,
        }
        return Gpt2Model(load_pretrained(GPT2LMHeadModel, folder, dropout))

    def lora_targets(self) -> list[str]:
        """Every projection of a block: attention's fused q/k/v and output, the MLP's two."""
        return ["c_attn", "c_proj", "c_fc"]
