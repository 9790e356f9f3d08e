"""GPT-NeoX on `transformers`: the only module of this package that builds and loads
`transformers` models, whose configs are untyped; it is therefore exempt from
`disallow_any_expr` in pyproject, and hands on only models, `Path`s and names. The forward
call, `torch.compile` and the export go through `model_trainer.plugin_hf`.
"""

from __future__ import annotations

from pathlib import Path

from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from model_trainer.plugin import Architecture, SpecialTokens
from model_trainer.plugin_hf import HfCausalLM, evaluation_mode, load_pretrained, save_pretrained

END_OF_TEXT_ID = 0
"""bos/eos/pad in the exported config: id 0, the convention the built-in GPT-2 follows."""


class NeoxModel(HfCausalLM[GPTNeoXForCausalLM]):
    """`LanguageModel` over `GPTNeoXForCausalLM`."""


def build(
    arch: Architecture, rotary_pct: float, parallel_residual: bool, intermediate_size: int
) -> NeoxModel:
    config = GPTNeoXConfig(
        vocab_size=arch.vocab_size,
        hidden_size=arch.n_embd,
        num_hidden_layers=arch.n_layer,
        num_attention_heads=arch.n_head,
        intermediate_size=intermediate_size,
        max_position_embeddings=arch.max_seq_len,
        hidden_dropout=arch.dropout,
        attention_dropout=arch.dropout,
        # transformers 5's name for GPT-NeoX's `rotary_pct`; theta is the library's default.
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": rotary_pct,
        },
        use_parallel_residual=parallel_residual,
        bos_token_id=END_OF_TEXT_ID,
        eos_token_id=END_OF_TEXT_ID,
        tie_word_embeddings=False,
    )
    config._attn_implementation = "sdpa"  # as gpt2.py: not a constructor argument in the types
    return NeoxModel(GPTNeoXForCausalLM(config))


def export(model: NeoxModel, out_dir: Path, special: SpecialTokens) -> list[str]:
    """`config.json`, `model.safetensors` and a generation config with the library's defaults
    but for the tokenizer's special ids (rotary positions set no length limit to stay in)."""
    return save_pretrained(model.hf_model, out_dir, special, max_length=None)


def load(export_dir: Path) -> NeoxModel:
    model = GPTNeoXForCausalLM.from_pretrained(
        str(export_dir), local_files_only=True, attn_implementation="sdpa"
    )
    evaluation_mode(model)
    return NeoxModel(model)


def pretrained(folder: Path, dropout: float) -> NeoxModel:
    """A GPT-NeoX folder's weights, ready to train with `dropout` (fine-tuning)."""
    overrides: dict[str, float | int | str] = {
        "hidden_dropout": dropout,
        "attention_dropout": dropout,
    }
    return NeoxModel(load_pretrained(GPTNeoXForCausalLM, folder, overrides))
