"""The GPT-NeoX family (rotary attention, untied output layer): sizes, options and counts.

Building, exporting and loading go through `neox_hf`, the one module that calls untyped
`transformers` code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.plugin import (
    AppError,
    Architecture,
    ErrorCode,
    JsonObject,
    LanguageModel,
    ModelSize,
    SpecialTokens,
)
from model_trainer.plugin_hf import config_float, config_int
from model_trainer_extras import neox_hf

SIZES: dict[str, ModelSize] = {
    "nano": ModelSize(n_layer=4, n_head=4, n_embd=128),
    # A size may set the family's options too; a request's own options win over them.
    "nano-lean": ModelSize(n_layer=4, n_head=4, n_embd=128, options={"intermediate_size": 256}),
    "tiny": ModelSize(n_layer=4, n_head=4, n_embd=256),
    "small": ModelSize(n_layer=12, n_head=12, n_embd=768),
}
"""Named sizes; `nano-lean` has half the usual MLP width."""


class GptNeoxOptions(BaseModel):
    """GPT-NeoX's own knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rotary_pct: Annotated[
        float, Field(gt=0.0, le=1.0, description="Share of each head's width that is rotated")
    ] = 0.25
    use_parallel_residual: Annotated[
        bool, Field(description="Attention and MLP read the same input (GPT-J/NeoX style)")
    ] = True
    intermediate_size: Annotated[
        int | None, Field(ge=1, le=65536, description="MLP width (default: 4 x n_embd)")
    ] = None


def _mlp_width(architecture: Architecture, options: GptNeoxOptions) -> int:
    return options.intermediate_size or 4 * architecture.n_embd


def _options(architecture: Architecture) -> GptNeoxOptions:
    return GptNeoxOptions.model_validate(architecture.options)


class GptNeoxBackend:
    """`ModelBackend` for GPT-NeoX shaped models, built from a config (never downloaded)."""

    def name(self) -> str:
        return "gpt_neox"

    def sizes(self) -> dict[str, ModelSize]:
        return dict(SIZES)

    def options_model(self) -> type[BaseModel]:
        return GptNeoxOptions

    def parameter_count(self, architecture: Architecture) -> int:
        """Per block: fused QKV and output projections (4d^2 + 4d), an MLP of width m
        (2dm + m + d), all with biases, and two layer norms (4d); input and output
        embeddings (not tied); the final norm. Rotary positions have no parameters."""
        d = architecture.n_embd
        m = _mlp_width(architecture, _options(architecture))
        per_layer = 4 * d * d + 2 * d * m + m + 9 * d
        return architecture.n_layer * per_layer + 2 * architecture.vocab_size * d + 2 * d

    def flops_per_token(self, architecture: Architecture) -> int:
        """6 per parameter (forward and backward) plus attention's 12 x layers x T x width."""
        a = architecture
        return 6 * self.parameter_count(a) + 12 * a.n_layer * a.max_seq_len * a.n_embd

    def activation_bytes_per_token(self, architecture: Architecture) -> int:
        """As GPT-2's fitted terms, with the MLP's share scaled by its width (the fit had
        4 x width) and the untied output layer's logits."""
        a = architecture
        m = _mlp_width(a, _options(a))
        per_layer = 48 * a.n_embd + 8 * m
        return a.n_layer * per_layer + 18 * a.vocab_size + 16 * a.n_embd

    def check(self, architecture: Architecture) -> None:
        if architecture.n_embd % architecture.n_head:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"model.n_embd: {architecture.n_embd} is not divisible by n_head "
                f"{architecture.n_head}",
            )
        options = _options(architecture)
        head_dim = architecture.n_embd // architecture.n_head
        # transformers rotates int(head_dim * rotary_pct) dimensions in pairs; the options
        # model cannot see the architecture, so the check is here, before anything is queued.
        rotary = int(head_dim * options.rotary_pct)
        if rotary < 2 or rotary % 2:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"model.options.rotary_pct: {options.rotary_pct} of a head width of {head_dim} "
                f"rotates {rotary} dimensions; it must be an even number, at least 2",
            )

    def build(self, architecture: Architecture) -> LanguageModel:
        self.check(architecture)
        options = _options(architecture)
        return neox_hf.build(
            architecture,
            options.rotary_pct,
            options.use_parallel_residual,
            _mlp_width(architecture, options),
        )

    def export(
        self,
        model: LanguageModel,
        architecture: Architecture,
        out_dir: Path,
        special: SpecialTokens = SpecialTokens(),  # noqa: B008 - frozen, so shared safely
    ) -> list[str]:
        if not isinstance(model, neox_hf.NeoxModel):
            raise AppError(ErrorCode.CONFIG_INVALID, "only GPT-NeoX models export as GPT-NeoX")
        return neox_hf.export(model, out_dir, special)

    def load(self, export_dir: Path) -> LanguageModel:
        return neox_hf.load(export_dir)

    # FineTunable (optional): runs that start from a GPT-NeoX folder or an earlier run's export

    def architecture_of(self, config: JsonObject) -> Architecture | None:
        if config.get("model_type") != "gpt_neox":
            return None
        rope = config.get("rope_parameters")
        source = rope if isinstance(rope, dict) else config
        key = "partial_rotary_factor" if isinstance(rope, dict) else "rotary_pct"
        parallel = config.get("use_parallel_residual", True)
        options: JsonObject = {
            "rotary_pct": config_float(source, key, 0.25),
            "use_parallel_residual": parallel if isinstance(parallel, bool) else True,
            "intermediate_size": config_int(config, "intermediate_size"),
        }
        return Architecture(
            family="gpt_neox",
            n_layer=config_int(config, "num_hidden_layers"),
            n_head=config_int(config, "num_attention_heads"),
            n_embd=config_int(config, "hidden_size"),
            max_seq_len=config_int(config, "max_position_embeddings"),
            vocab_size=config_int(config, "vocab_size"),
            dropout=config_float(config, "hidden_dropout", 0.0),
            options=options,
        )

    def from_pretrained(self, folder: Path, architecture: Architecture) -> LanguageModel:
        return neox_hf.pretrained(folder, architecture.dropout)

    def lora_targets(self) -> list[str]:
        """The fused query/key/value projection, attention's output and the MLP's two."""
        return ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]
