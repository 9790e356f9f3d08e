"""Typed helpers for a model family's `torch`/`transformers` calls (see `plugin.py`).

Calling an `nn.Module` and reading a `transformers` output give untyped values, and
`transformers`' logging helpers and `GenerationConfig` are unannotated; this module is named
in pyproject as exempt from `disallow_any_expr`, checks what comes back, and hands on only
tensors, modules and file names. Plugins (the built-in GPT-2, and outside ones) call these
rather than copying them; it is kept apart from `plugin.py` so that importing that module
does not import `transformers`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Generic, TypeVar

import torch
from torch import Tensor, nn
from transformers import AutoConfig, GenerationConfig, PreTrainedModel
from transformers.cache_utils import CacheLayerMixin, DynamicCache, DynamicLayer
from transformers.utils import logging as hf_logging

from model_trainer.core.contracts.model import KeyValues, SpecialTokens
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.core.logging import adopt_library_loggers
from model_trainer.infra.atomic import make_readable

__all__ = [
    "HfCausalLM",
    "appended",
    "cached_logits",
    "causal_logits",
    "compiled",
    "config_float",
    "config_int",
    "evaluation_mode",
    "load_pretrained",
    "quiet_transformers",
    "record_special_tokens",
    "save_pretrained",
]

M = TypeVar("M", bound=PreTrainedModel)


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


def appended(cached: Tensor, new: Tensor) -> Tensor:
    """`cached` (B, heads, t, width) with `new` after it along the tokens: written into the
    spare room of the buffer `cached` leads, when it has room, else into a new buffer of
    twice the length, so a text of n tokens costs O(n) copying in all, not O(n²). For a
    family's own `CachedDecoding`, as for the library's cache here; append only to the view
    the last pass returned (an older one would write over what a newer one holds)."""
    have, length = cached.shape[2], cached.shape[2] + new.shape[2]
    base = cached._base if isinstance(cached._base, Tensor) else cached
    leads = (
        base is not cached
        and base.dim() == 4
        and cached.data_ptr() == base.data_ptr()
        and (cached.shape[:2], cached.shape[3]) == (base.shape[:2], base.shape[3])
        and cached.stride() == base.stride()
        and base.shape[2] >= length
    )
    if not leads:
        room = max(length, 2 * have, 16)
        base = cached.new_empty((cached.shape[0], cached.shape[1], room, cached.shape[3]))
        base[:, :, :have] = cached
    base[:, :, have:length] = new
    return base[:, :, :length]


class _GrowingLayer(DynamicLayer):
    """A cache layer that appends into spare room (`appended`) where the library's
    concatenates, copying every cached key at every token. Only the newest view of a
    buffer is ever appended to: the caller hands back what the last pass returned."""

    def __init__(self, keys: Tensor, values: Tensor) -> None:
        super().__init__()
        self.lazy_initialization(keys, values)
        self.keys, self.values = keys, values

    def update(
        self, key_states: Tensor, value_states: Tensor, *args: object, **kwargs: object
    ) -> tuple[Tensor, Tensor]:
        if self.keys is None or self.values is None:  # set in __init__; never None here
            raise AppError(ErrorCode.INTERNAL_ERROR, "a cache layer lost its keys")
        keys, values = appended(self.keys, key_states), appended(self.values, value_states)
        self.keys, self.values = keys, values
        return keys, values


def _cache_of(past: KeyValues | None) -> DynamicCache:
    """A cache holding `past` as it is, growing in place (`_GrowingLayer`)."""
    cache = DynamicCache()
    if past:
        cache.layers = [_GrowingLayer(keys, values) for keys, values in past]
    return cache


def cached_logits(
    model: nn.Module, ids: Tensor, past: KeyValues | None, mask: Tensor | None, positions: Tensor
) -> tuple[Tensor, KeyValues]:
    """`CachedDecoding.forward_cached` for a `transformers` causal LM: the keys and values
    go in and come out as one (keys, values) pair per layer, whatever cache class the
    library uses inside."""
    cache = _cache_of(past)
    output = model(
        input_ids=ids, cache=cache, attention_mask=mask, position_ids=positions, use_cache=True
    )
    logits, present = output.logits, output.cache
    if not isinstance(logits, Tensor) or not isinstance(present, DynamicCache):
        raise AppError(ErrorCode.INTERNAL_ERROR, "the model returned no logits or no cache")
    pairs: KeyValues = []
    for layer in present.layers:
        if not isinstance(layer, CacheLayerMixin):
            raise AppError(ErrorCode.INTERNAL_ERROR, "the model's cache is not of keys and values")
        keys, values = layer.keys, layer.values
        if not isinstance(keys, Tensor) or not isinstance(values, Tensor):
            raise AppError(ErrorCode.INTERNAL_ERROR, "the model's cache holds no tensors")
        pairs.append((keys, values))
    return logits, pairs


def compiled(module: nn.Module) -> nn.Module:
    """`torch.compile(module)`, sharing its parameters; the module itself if torch returned
    something else. Never test the result for truth: `bool()` of a compiled wrapper calls the
    wrapped module's `__len__`, which most models do not have."""
    result = torch.compile(module)
    return result if isinstance(result, nn.Module) else module


class HfCausalLM(Generic[M]):
    """`LanguageModel` over a `transformers` causal LM. Subclass it per family
    (`class NeoxModel(HfCausalLM[GPTNeoXForCausalLM])`) so `export` can check, with
    `isinstance`, that it was handed its own family's model and read `hf_model` typed."""

    def __init__(self, model: M) -> None:
        self._model = model
        self._forward: nn.Module = model

    @property
    def module(self) -> nn.Module:
        return self._model

    @property
    def hf_model(self) -> M:
        return self._model

    def logits(self, idx: Tensor) -> Tensor:
        return causal_logits(self._forward, idx)

    def forward_cached(
        self, ids: Tensor, past: KeyValues | None, mask: Tensor | None, positions: Tensor
    ) -> tuple[Tensor, KeyValues]:
        # The plain module: shapes change at every token, which a compiled one would retrace.
        return cached_logits(self._model, ids, past, mask, positions)

    def keeps_cache_when_sliding(self) -> bool:
        # No, also for rotary positions: past the first layer a cached key was computed
        # while attending to the tokens a slide drops, so keeping it changes the scores
        # (by up to 0.09 on a 2-layer Llama after one slide); the window runs again.
        return False

    def compile(self) -> None:
        # The compiled wrapper shares the parameters; checkpoints keep using the plain module.
        self._forward = compiled(self._model)


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


def save_pretrained(
    model: PreTrainedModel, out_dir: Path, special: SpecialTokens, max_length: int | None
) -> list[str]:
    """What `ModelBackend.export` writes for a `transformers` model: `config.json`,
    `model.safetensors` and the generation config (`record_special_tokens`; `max_length`
    is the context of a learned position table, None for rotary positions), every file
    readable by others. Returns the file names."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record_special_tokens(model, special, max_length)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    make_readable(out_dir)  # safetensors writes its file 0600
    return sorted(p.name for p in out_dir.iterdir() if p.is_file())


def evaluation_mode(module: nn.Module) -> None:
    module.eval()


def config_int(config: JsonObject, key: str) -> int:
    """An integer of a folder's `config.json`, or a 422 naming it (for `architecture_of`)."""
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise AppError(
            ErrorCode.CONFIG_INVALID, f"model.init_from: config.json has no integer '{key}'"
        )
    return value


def config_float(config: JsonObject, key: str, default: float) -> float:
    """A finite number of a folder's `config.json` (dropout, ...), `default` when absent;
    an integer too large for a float (`1e400` written out) is refused like a string."""
    value = config.get(key, default)
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.nan
    if not math.isfinite(number):
        raise AppError(
            ErrorCode.CONFIG_INVALID,
            f"model.init_from: config.json's '{key}' is no finite number",
        )
    return number


def load_pretrained(
    model_class: type[M], folder: Path, overrides: dict[str, float | int | str]
) -> M:
    """`model_class.from_pretrained(folder)` from local files only, in fp32, with SDPA
    attention and `overrides` of its config (dropout ...), in training mode: what a
    `FineTunable.from_pretrained` returns wrapped in its `HfCausalLM`."""
    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    for key, value in overrides.items():
        setattr(config, key, value)
    config._attn_implementation = "sdpa"
    model = model_class.from_pretrained(
        str(folder), config=config, local_files_only=True, dtype=torch.float32
    )
    if not isinstance(model, model_class):
        raise AppError(
            ErrorCode.DATA_INVALID, f"{folder.name} does not hold a {model_class.__name__}"
        )
    model.train()
    return model
