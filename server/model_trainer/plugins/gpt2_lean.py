"""GPT-2's training forward computed from the Hugging Face module's own parameters.

`GPT2LMHeadModel.forward` builds position ids, masks and output records on every call and
goes through a dozen module calls per block: about 2 ms of a 40 ms training step at `nano`
on a two-core CPU (docs/BENCHMARKS.md, machine C). `LeanGpt2` computes the same
function with torch's functional calls on the same parameter tensors (weights, checkpoints
and `save_pretrained` are untouched: the HF module still owns them), for the one structure
it was written against: a `GPT2LMHeadModel` built from `gpt2_config` with no dropout, the
exact GELU, SDPA's scaling, tied embeddings and plain `Conv1D` projections. Anything else
(dropout, another activation, adapters injected by peft) gets None from `lean_gpt2`, and
`LeanGpt2.intact` turns false when a projection was swapped out after it was built, so the
caller falls back to the HF forward. With no dropout the function is the same in training
and evaluation mode, so the module's mode needs no reading here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import GPT2Config, GPT2LMHeadModel

from model_trainer.plugin import KeyValues
from model_trainer.plugin_hf import appended

CONV1D_MODULE = "transformers.pytorch_utils"
LAYER_NORM_MODULE = "torch.nn.modules.normalization"
PROJECTIONS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
"""A block's `Conv1D` projections, by their names in the HF module."""


@dataclass(frozen=True)
class _Projection:
    """One `Conv1D` (weight stored (in, out)) and where it hangs, to notice a swap."""

    parent: nn.Module
    name: str
    module: nn.Module
    weight: Tensor
    bias: Tensor

    def intact(self) -> bool:
        return self.parent.get_submodule(self.name) is self.module

    def __call__(self, x: Tensor) -> Tensor:
        # what Conv1D.forward does: x @ W + b over the flattened leading dimensions
        flat = torch.addmm(self.bias, x.reshape(-1, x.size(-1)), self.weight)
        return flat.view(*x.shape[:-1], self.weight.size(1))


@dataclass(frozen=True)
class _Norm:
    weight: Tensor
    bias: Tensor
    eps: float

    def __call__(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, (self.weight.size(0),), self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class _Block:
    ln_1: _Norm
    c_attn: _Projection
    attn_proj: _Projection
    ln_2: _Norm
    c_fc: _Projection
    mlp_proj: _Projection

    def __call__(self, x: Tensor, n_head: int) -> Tensor:
        batch, length, width = x.shape
        qkv = self.c_attn(self.ln_1(x)).view(batch, length, 3, n_head, width // n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, head width)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))

    def cached(
        self, x: Tensor, n_head: int, past: tuple[Tensor, Tensor] | None, mask: Tensor | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The block over new tokens after `past` keys and values (`mask`: which cached and
        new places each new token attends to; None: all before it); also the new keys and
        values after `past`'s."""
        batch, length, width = x.shape
        qkv = self.c_attn(self.ln_1(x)).view(batch, length, 3, n_head, width // n_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if past is not None:
            k, v = appended(past[0], k), appended(past[1], v)
        causal = past is None and mask is None
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        x = x + self.attn_proj(y.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)))), (k, v)

    def projections(self) -> tuple[_Projection, ...]:
        return (self.c_attn, self.attn_proj, self.c_fc, self.mlp_proj)


class LeanGpt2:
    """(B, T) ids -> (B, T, vocab) logits, equal to `GPT2LMHeadModel`'s to fp32 rounding."""

    def __init__(
        self, wte: Tensor, wpe: Tensor, blocks: list[_Block], ln_f: _Norm, n_head: int
    ) -> None:
        self._wte, self._wpe, self._blocks, self._ln_f = wte, wpe, blocks, ln_f
        self._n_head = n_head

    def intact(self) -> bool:
        """Whether every projection is still the plain `Conv1D` this was built on (peft
        replaces them in place when adapters are attached)."""
        return all(p.intact() for block in self._blocks for p in block.projections())

    def __call__(self, idx: Tensor) -> Tensor:
        positions = torch.arange(idx.size(1), device=idx.device)
        x = F.embedding(idx, self._wte) + F.embedding(positions, self._wpe)
        for block in self._blocks:
            x = block(x, self._n_head)
        return F.linear(self._ln_f(x), self._wte)

    def cached(
        self, ids: Tensor, past: KeyValues | None, mask: Tensor | None, positions: Tensor
    ) -> tuple[Tensor, KeyValues]:
        """`CachedDecoding.forward_cached`, computed as `__call__` is."""
        x = F.embedding(ids, self._wte) + F.embedding(positions, self._wpe)
        attend = _attention_mask(ids.size(1), past, mask)
        present: KeyValues = []
        for layer, block in enumerate(self._blocks):
            x, kv = block.cached(x, self._n_head, past[layer] if past else None, attend)
            present.append(kv)
        return F.linear(self._ln_f(x), self._wte), present


def _attention_mask(new: int, past: KeyValues | None, mask: Tensor | None) -> Tensor | None:
    """(B, 1, new, all) True where a new token may attend: its own text's places (`mask`,
    1 keep) up to itself; None when that is every earlier place (SDPA's `is_causal` then, or
    no mask for one new token)."""
    cached = past[0][0].shape[2] if past else 0
    if mask is None and (past is None or new == 1):
        return None
    every = cached + new
    allowed = torch.ones((new, every), dtype=torch.bool, device=past[0][0].device if past else None)
    allowed = allowed.tril(cached)
    if mask is not None:
        allowed = allowed & mask.bool()[:, None, :]
        return allowed[:, None, :, :]
    return allowed[None, None, :, :]


def _verified_config(config: GPT2Config, decoding: bool) -> bool:
    """The configuration `LeanGpt2` computes: what `gpt2_config` writes, without dropout
    unless it only decodes (generation runs in evaluation mode, where dropout is off)."""
    plain: list[object] = [
        config.activation_function == "gelu",
        config.scale_attn_weights is True,
        config.scale_attn_by_inverse_layer_idx is False,
        config.reorder_and_upcast_attn is False,
        config.add_cross_attention is False,
        config.tie_word_embeddings is True,
        decoding or (config.resid_pdrop == 0 and config.embd_pdrop == 0 and config.attn_pdrop == 0),
    ]
    return all(check is True for check in plain)


def _is_exactly(module: nn.Module, where: str, name: str) -> bool:
    """`module` is an instance of that very class (no subclass, no wrapper). By name: these
    classes' own annotations hold `Any`, which this module must not name."""
    kind = type(module)
    return kind.__module__ == where and kind.__qualname__ == name


def _weight_and_bias(module: nn.Module) -> tuple[Tensor, Tensor] | None:
    own = dict(module.named_parameters(recurse=False))
    if set(own) != {"weight", "bias"}:
        return None
    return own["weight"], own["bias"]


def _projection(block: nn.Module, name: str) -> _Projection | None:
    parent_name, _, child = name.partition(".")
    parent = block.get_submodule(parent_name)
    module = parent.get_submodule(child)
    params = _weight_and_bias(module)
    if not _is_exactly(module, CONV1D_MODULE, "Conv1D") or params is None:
        return None
    weight, bias = params
    return _Projection(parent=parent, name=child, module=module, weight=weight, bias=bias)


def _norm(module: nn.Module, eps: float) -> _Norm | None:
    params = _weight_and_bias(module)
    if not _is_exactly(module, LAYER_NORM_MODULE, "LayerNorm") or params is None:
        return None
    weight, bias = params
    return _Norm(weight=weight, bias=bias, eps=eps)


def _block(block: nn.Module, eps: float) -> _Block | None:
    if {name for name, _ in block.named_children()} != {"ln_1", "attn", "ln_2", "mlp"}:
        return None  # cross-attention, or anything else a block was given
    ln_1, ln_2 = _norm(block.get_submodule("ln_1"), eps), _norm(block.get_submodule("ln_2"), eps)
    c_attn, attn_proj, c_fc, mlp_proj = (_projection(block, name) for name in PROJECTIONS)
    if ln_1 is None or ln_2 is None or c_attn is None or attn_proj is None:
        return None
    if c_fc is None or mlp_proj is None:
        return None
    return _Block(ln_1, c_attn, attn_proj, ln_2, c_fc, mlp_proj)


def lean_gpt2(model: GPT2LMHeadModel, decoding: bool = False) -> LeanGpt2 | None:
    """The lean forward of `model`, or None when its structure is not the verified one;
    `decoding`: for `LeanGpt2.cached` alone, in evaluation mode, where dropout is off."""
    config = model.config
    if type(model) is not GPT2LMHeadModel or not isinstance(config, GPT2Config):
        return None
    if not _verified_config(config, decoding):
        return None
    wte = model.get_parameter("transformer.wte.weight")
    if model.get_parameter("lm_head.weight") is not wte:
        return None
    if "lm_head.bias" in dict(model.named_parameters()):
        return None
    layers = model.get_submodule("transformer.h")
    if not isinstance(layers, nn.ModuleList):
        return None
    eps = float(config.layer_norm_epsilon)
    blocks = [_block(layer, eps) for layer in layers]
    ln_f = _norm(model.get_submodule("transformer.ln_f"), eps)
    kept = [b for b in blocks if b is not None]
    if ln_f is None or len(kept) != len(blocks):
        return None
    wpe = model.get_parameter("transformer.wpe.weight")
    return LeanGpt2(wte, wpe, kept, ln_f, int(config.n_head))
