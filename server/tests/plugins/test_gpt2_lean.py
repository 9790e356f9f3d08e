"""GPT-2's lean training forward computes what Hugging Face's forward computes, and steps
aside for any model it was not written for."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import GPT2LMHeadModel

from model_trainer.core.contracts.model import Architecture
from model_trainer.plugin_hf import causal_logits
from model_trainer.plugins.gpt2 import Gpt2Backend, Gpt2Model, gpt2_config
from model_trainer.plugins.gpt2_lean import lean_gpt2

ARCH = Architecture(
    family="gpt2", n_layer=2, n_head=4, n_embd=32, max_seq_len=16, vocab_size=40, dropout=0.0
)


def _built(arch: Architecture = ARCH) -> Gpt2Model:
    torch.manual_seed(3)
    model = Gpt2Backend().build(arch)
    assert isinstance(model, Gpt2Model)
    with torch.no_grad():  # biases and norms away from their 0 and 1 starts
        for param in model.module.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model


def _ids(batch: int = 3, length: int = 16) -> torch.Tensor:
    return torch.randint(
        0, ARCH.vocab_size, (batch, length), generator=torch.Generator().manual_seed(5)
    )


def test_lean_logits_and_gradients_match_the_hf_forward() -> None:
    model = _built()
    assert lean_gpt2(model.hf_model) is not None
    ids = _ids()
    for length in (16, 7, 1):  # a full window, a shorter one, a single position
        lean = model.logits(ids[:, :length])
        hf = causal_logits(model.hf_model, ids[:, :length])
        assert lean.shape == hf.shape == (3, length, ARCH.vocab_size)
        assert torch.allclose(lean, hf, atol=1e-5, rtol=1e-5)
    params = list(model.module.parameters())
    lean_grads = torch.autograd.grad(model.logits(ids).square().mean(), params)
    hf_grads = torch.autograd.grad(causal_logits(model.hf_model, ids).square().mean(), params)
    for mine, theirs in zip(lean_grads, hf_grads, strict=True):
        assert torch.allclose(mine, theirs, atol=1e-6, rtol=1e-4)


def test_lean_logits_match_under_bf16_autocast() -> None:
    model = _built()
    ids = _ids()
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.no_grad():
        lean = model.logits(ids).float()
        hf = causal_logits(model.hf_model, ids).float()
    assert torch.allclose(lean, hf, atol=2e-2)


def test_models_it_was_not_written_for_get_none() -> None:
    dropout = Architecture(
        family="gpt2", n_layer=2, n_head=4, n_embd=32, max_seq_len=16, vocab_size=40, dropout=0.1
    )
    assert lean_gpt2(GPT2LMHeadModel(gpt2_config(dropout, 0, 0))) is None
    tanh = gpt2_config(ARCH, 0, 0)
    tanh.activation_function = "gelu_new"
    assert lean_gpt2(GPT2LMHeadModel(tanh)) is None
    untied = gpt2_config(ARCH, 0, 0)
    untied.tie_word_embeddings = False
    assert lean_gpt2(GPT2LMHeadModel(untied)) is None
    cross = gpt2_config(ARCH, 0, 0)
    cross.add_cross_attention = True
    assert lean_gpt2(GPT2LMHeadModel(cross)) is None


def test_a_swapped_projection_falls_back_to_the_hf_forward() -> None:
    """peft replaces projections in place when adapters are attached; the lean forward,
    built on the old ones, must not be used after that."""
    model = _built()
    ids = _ids()
    before = model.logits(ids).detach()
    replacement = copy.deepcopy(model.module.get_submodule("transformer.h.0.attn.c_attn"))
    with torch.no_grad():
        for param in replacement.parameters():
            param.normal_(std=0.5)
    model.module.get_submodule("transformer.h.1.attn").register_module("c_attn", replacement)
    after = model.logits(ids)
    assert torch.allclose(after, causal_logits(model.hf_model, ids))
    assert not torch.allclose(after, before, atol=1e-3)


def test_an_exported_model_computes_what_the_lean_forward_did(tmp_path: Path) -> None:
    backend = Gpt2Backend()
    model = _built()
    backend.export(model, ARCH, tmp_path)
    loaded = backend.load(tmp_path)
    ids = _ids()
    with torch.no_grad():
        assert torch.allclose(loaded.logits(ids), model.logits(ids), atol=1e-5)
    assert isinstance(loaded, Gpt2Model) and loaded.module is not model.module
