"""Qwen2 on `transformers`: built from a `Qwen2Config` (never downloaded), exported as HF files.

A Qwen2 block is a Llama block (`model_trainer.plugins.llama`: RMSNorm, rotary attention
with optional grouped key/value heads, SwiGLU MLP) whose query, key and value projections
have biases. The sizes, options, counts and checks are Llama's, the biases added.

transformers builds Qwen2's query/key/value biases unconditionally (and none on the output
projection), so they are not an option: a model without them is a Llama.

Dropout: Qwen2 has attention dropout only; `architecture.dropout` becomes
`attention_dropout`, and the residual stream and the MLP have none.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from transformers import Qwen2Config, Qwen2ForCausalLM

from model_trainer.plugin import (
    AppError,
    Architecture,
    ErrorCode,
    JsonObject,
    LanguageModel,
    ModelSize,
    SpecialTokens,
)
from model_trainer.plugin_hf import HfCausalLM, evaluation_mode, load_pretrained, save_pretrained
from model_trainer.plugins.llama import (
    END_OF_TEXT_ID,
    LORA_TARGETS,
    SIZES,
    RotaryOptions,
    check_rotary,
    kv_heads,
    mlp_width,
    rotary_activation_bytes,
    rotary_architecture_of,
    rotary_flops_per_token,
    rotary_options,
    rotary_parameter_count,
)


class Qwen2Options(RotaryOptions):
    """Qwen2's own options (the shared rotary family's)."""


def qwen2_config(architecture: Architecture) -> Qwen2Config:
    a = architecture
    options = rotary_options(a)
    config = Qwen2Config(
        vocab_size=a.vocab_size,
        hidden_size=a.n_embd,
        intermediate_size=mlp_width(a, options),
        num_hidden_layers=a.n_layer,
        num_attention_heads=a.n_head,
        num_key_value_heads=kv_heads(a, options),
        max_position_embeddings=a.max_seq_len,
        rms_norm_eps=options.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": options.rope_theta},
        attention_dropout=a.dropout,
        tie_word_embeddings=options.tie_word_embeddings,
        use_sliding_window=False,
        bos_token_id=END_OF_TEXT_ID,
        eos_token_id=END_OF_TEXT_ID,
    )
    config._attn_implementation = "sdpa"  # as gpt2.py: not a constructor argument in the types
    return config


class Qwen2Model(HfCausalLM[Qwen2ForCausalLM]):
    """`LanguageModel` over `Qwen2ForCausalLM`."""


class Qwen2Backend:
    """`ModelBackend` for Qwen2 shaped models."""

    def name(self) -> str:
        return "qwen2"

    def sizes(self) -> dict[str, ModelSize]:
        return dict(SIZES)

    def options_model(self) -> type[BaseModel]:
        return Qwen2Options

    def parameter_count(self, architecture: Architecture) -> int:
        return rotary_parameter_count(architecture, qkv_bias=True)

    def flops_per_token(self, architecture: Architecture) -> int:
        return rotary_flops_per_token(architecture, self.parameter_count(architecture))

    def activation_bytes_per_token(self, architecture: Architecture) -> int:
        return rotary_activation_bytes(architecture)

    def check(self, architecture: Architecture) -> None:
        check_rotary(architecture)

    def build(self, architecture: Architecture) -> LanguageModel:
        check_rotary(architecture)
        return Qwen2Model(Qwen2ForCausalLM(qwen2_config(architecture)))

    def export(
        self,
        model: LanguageModel,
        architecture: Architecture,
        out_dir: Path,
        special: SpecialTokens = SpecialTokens(),  # noqa: B008 - frozen, so shared safely
    ) -> list[str]:
        if not isinstance(model, Qwen2Model):
            raise AppError(ErrorCode.CONFIG_INVALID, "only Qwen2 models export as Qwen2")
        return save_pretrained(model.hf_model, out_dir, special, max_length=None)

    def load(self, export_dir: Path) -> LanguageModel:
        model = Qwen2ForCausalLM.from_pretrained(
            str(export_dir), local_files_only=True, attn_implementation="sdpa"
        )
        evaluation_mode(model)
        return Qwen2Model(model)

    # FineTunable: runs that start from a Qwen2 folder or an earlier Qwen2 run's export

    def architecture_of(self, config: JsonObject) -> Architecture | None:
        return rotary_architecture_of(config, "qwen2")

    def from_pretrained(self, folder: Path, architecture: Architecture) -> LanguageModel:
        dropout: dict[str, float | int | str] = {"attention_dropout": architecture.dropout}
        return Qwen2Model(load_pretrained(Qwen2ForCausalLM, folder, dropout))

    def lora_targets(self) -> list[str]:
        return list(LORA_TARGETS)
