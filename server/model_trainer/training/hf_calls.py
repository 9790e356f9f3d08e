"""The untyped calls a model plugin makes into `torch` and `transformers`, typed.

Calling an `nn.Module` and reading a `transformers` output give untyped values, and
`transformers`' logging helpers and `GenerationConfig` are unannotated; this module is named
in pyproject as exempt from `disallow_any_expr`, checks what comes back, and hands on only
tensors and modules. Plugins (the built-in GPT-2, and outside ones) call these.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers import GenerationConfig, PreTrainedModel
from transformers.utils import logging as hf_logging

from model_trainer.core.contracts.model import SpecialTokens
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import adopt_library_loggers


def quiet_transformers() -> None:
    """Make transformers, the Hub client and torch speak only through our JSON log lines."""
    hf_logging.disable_progress_bar()  # "Loading weights" would draw a tqdm bar on stderr
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    adopt_library_loggers("huggingface_hub", "torch")


def causal_logits(forward: nn.Module, idx: Tensor) -> Tensor:
    """(B, T) ids -> (B, T, vocab) logits of a `transformers` causal LM (no KV cache)."""
    output = forward(input_ids=idx, use_cache=False)
    logits = output.logits
    if not isinstance(logits, Tensor):
        raise AppError(ErrorCode.INTERNAL_ERROR, "the model returned no logits tensor")
    return logits


def compiled(module: nn.Module) -> nn.Module:
    """`torch.compile(module)`, sharing its parameters; the module itself if torch returned
    something else. Never test the result for truth: `bool()` of a compiled wrapper calls the
    wrapped module's `__len__`, which most models do not have."""
    result = torch.compile(module)
    return result if isinstance(result, nn.Module) else module


def record_special_tokens(
    model: PreTrainedModel, special: SpecialTokens, max_length: int | None
) -> None:
    """The tokenizer's special ids in the model's config and a generation config with the
    library's defaults but for them and, for learned position tables, a total length that
    stays inside the table: a default pipeline call otherwise asks for 256 new tokens, and
    a prompt plus those runs past a short context into an IndexError."""
    pad = special.pad_id if special.pad_id is not None else special.eos_id
    model.config.bos_token_id = special.bos_id
    model.config.eos_token_id = special.eos_id
    model.config.pad_token_id = pad
    extra = {} if max_length is None else {"max_length": max_length}
    model.generation_config = GenerationConfig(
        bos_token_id=special.bos_id, eos_token_id=special.eos_id, pad_token_id=pad, **extra
    )


def evaluation_mode(module: nn.Module) -> None:
    module.eval()
