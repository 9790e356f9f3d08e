"""The GPU path: bf16 autocast, fused AdamW, torch.compile and SDPA attention (the loop
picks them on CUDA). The CUDA test skips without a GPU; the choices are checked everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_trainer.core.contracts.model import Architecture
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import Precision, TrainerSpec
from model_trainer.training.loop.checkpoint import Checkpointer
from model_trainer.training.loop.device import wants_compile
from model_trainer.training.loop.loop import EvalResult, LoopEnd, TrainingData, train_loop
from model_trainer.training.loop.precision import choose_precision
from model_trainer.training.loop.progress import Progress

ARCH = Architecture(
    family="gpt2", n_layer=2, n_head=2, n_embd=64, max_seq_len=32, vocab_size=50, dropout=0.0
)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class _Quiet:
    """LoopHooks that keep the evaluations and never stop."""

    def __init__(self) -> None:
        self.evals: list[EvalResult] = []

    def on_start(self, resumed_from: int | None) -> None:
        pass

    def on_progress(self, progress: Progress) -> None:
        pass

    def on_eval(self, result: EvalResult) -> None:
        self.evals.append(result)

    def on_checkpoint(self, step: int, path: str, best: bool) -> None:
        pass

    def should_stop(self) -> LoopEnd | None:
        return None


def test_choices_follow_the_device() -> None:
    cpu = torch.device("cpu")
    assert not wants_compile("auto", cpu) and wants_compile("on", cpu)
    assert wants_compile("auto", torch.device("cuda")) and not wants_compile("off", cpu)


@needs_cuda
def test_cuda_run_uses_bf16_fused_adamw_and_compile(tmp_path: Path) -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = Gpt2Backend().build(ARCH)
    model.compile()
    spec = TrainerSpec(max_steps=30, batch_size=8, eval_interval=15, eval_steps=2, warmup_steps=3)
    precision = choose_precision(Precision.AUTO, device, model, ARCH).precision
    if torch.cuda.get_device_capability(device)[0] >= 8:
        assert precision is Precision.BF16
    pattern: list[int] = [(i * 7919) % ARCH.vocab_size for i in range(4000)]
    ids = np.array(pattern, dtype=np.uint16)
    hooks = _Quiet()
    train_loop(
        model,
        ARCH,
        spec,
        TrainingData(train=ids[:3000], val=ids[3000:]),
        device,
        precision,
        Checkpointer(tmp_path),
        hooks,
        "{}",
    )
    assert [e.step for e in hooks.evals] == [0, 15, 30]
    assert hooks.evals[-1].train_loss < hooks.evals[0].train_loss
