"""GPT-NeoX on `transformers`: the only module of this package that calls `nn.Module`s and
reads `transformers` configs and outputs, which are untyped; it is therefore exempt from
`disallow_any_expr` in pyproject, and hands on only `Tensor`s, `Path`s and names.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from model_trainer.plugin import Architecture, SpecialTokens, make_readable
from model_trainer.plugin_hf import record_special_tokens

END_OF_TEXT_ID = 0
"""bos/eos/pad in the exported config: id 0, the convention the built-in GPT-2 follows."""


class NeoxModel:
    """`LanguageModel` over `GPTNeoXForCausalLM`."""

    def __init__(self, model: GPTNeoXForCausalLM) -> None:
        self._model = model
        self._forward: nn.Module = model

    @property
    def module(self) -> nn.Module:
        return self._model

    @property
    def hf_model(self) -> GPTNeoXForCausalLM:
        return self._model

    def logits(self, idx: Tensor) -> Tensor:
        output = self._forward(input_ids=idx, use_cache=False)
        logits: Tensor = output.logits
        return logits

    def compile(self) -> None:
        # The compiled wrapper shares the parameters; checkpoints keep using the plain module.
        compiled = torch.compile(self._model)
        if isinstance(compiled, nn.Module):
            self._forward = compiled


def build(arch: Architecture, rotary_pct: float, parallel_residual: bool) -> NeoxModel:
    config = GPTNeoXConfig(
        vocab_size=arch.vocab_size,
        hidden_size=arch.n_embd,
        num_hidden_layers=arch.n_layer,
        num_attention_heads=arch.n_head,
        intermediate_size=4 * arch.n_embd,
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
    out_dir.mkdir(parents=True, exist_ok=True)
    hf = model.hf_model
    record_special_tokens(hf, special, max_length=None)
    hf.save_pretrained(str(out_dir), safe_serialization=True)
    make_readable(out_dir)  # safetensors writes its file 0600
    return sorted(p.name for p in out_dir.iterdir() if p.is_file())


def load(export_dir: Path) -> NeoxModel:
    model = GPTNeoXForCausalLM.from_pretrained(
        str(export_dir), local_files_only=True, attn_implementation="sdpa"
    )
    model.eval()
    return NeoxModel(model)
