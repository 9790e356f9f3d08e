"""`trainer.precision: auto`: what it picks, and that deciding leaves the run untouched."""

from __future__ import annotations

import torch

from model_trainer.core.contracts.model import Architecture
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import Precision
from model_trainer.training.loop.device import cpu_supports_bf16, device_info
from model_trainer.training.loop.precision import choose_precision, probe_cpu

ARCH = Architecture(
    family="gpt2", n_layer=2, n_head=2, n_embd=32, max_seq_len=16, vocab_size=40, dropout=0.1
)
CPU = torch.device("cpu")


def test_explicit_choices_are_kept_and_auto_resolves() -> None:
    torch.manual_seed(0)
    model = Gpt2Backend().build(ARCH)
    for asked in (Precision.FP32, Precision.BF16):
        assert choose_precision(asked, CPU, model, ARCH).precision is asked
    auto = choose_precision(Precision.AUTO, CPU, model, ARCH)
    assert auto.precision in (Precision.FP32, Precision.BF16) and auto.reason
    if not cpu_supports_bf16():  # no probe: bf16 would be emulated, many times slower
        assert auto.precision is Precision.FP32 and auto.fp32_pass_s is None


def test_a_resumed_run_keeps_its_first_choice() -> None:
    torch.manual_seed(0)
    model = Gpt2Backend().build(ARCH)
    earlier = device_info(CPU, Precision.BF16, "probe said so")
    kept = choose_precision(Precision.AUTO, CPU, model, ARCH, earlier)
    assert kept.precision is Precision.BF16 and "resumed" in kept.reason


def test_probe_times_both_and_leaves_no_trace() -> None:
    """Runs on every CPU (bf16 is emulated where not native): weights, gradients and the
    global random stream are as they were, so the run trains as if never probed."""
    torch.manual_seed(0)
    model = Gpt2Backend().build(ARCH)
    before = [p.detach().clone() for p in model.module.parameters()]
    torch.manual_seed(5)
    choice = probe_cpu(model, ARCH, CPU)
    after_probe = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after_probe, torch.rand(3))
    assert choice.fp32_pass_s is not None and choice.fp32_pass_s > 0
    assert choice.bf16_pass_s is not None and choice.bf16_pass_s > 0
    assert choice.reason and "ms" in choice.reason
    for old, new in zip(before, model.module.parameters(), strict=True):
        assert torch.equal(old, new) and new.grad is None
