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

from transformers import Qwen2Config, Qwen2ForCausalLM

from model_trainer.plugin import Architecture
from model_trainer.plugin_hf import HfCausalLM
from model_trainer.plugins.llama import (
    END_OF_TEXT_ID,
    RotaryBackend,
    RotaryOptions,
    kv_heads,
    mlp_width,
    rotary_options,
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


class Qwen2Backend(RotaryBackend[Qwen2ForCausalLM]):
    """`ModelBackend` for Qwen2 shaped models: Llama's, with query/key/value biases."""

    def __init__(self) -> None:
        super().__init__(
            "qwen2", Qwen2ForCausalLM, Qwen2Model, qwen2_config, Qwen2Options, qkv_bias=True
        )
