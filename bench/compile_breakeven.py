"""torch.compile on a CPU: after how many steps does a run win back the compile time?

For each shape, a GPT-2 built as a run builds it trains (forward, backward, clip, fused
AdamW) eagerly and then compiled (`LanguageModel.compile`, what `trainer.compile: on` asks
for). The compile time counted is everything the compiled run pays beyond the eager one on
its first calls: the training graph (forward and backward), and the evaluation graphs a run
also meets (no grad, evaluation mode, at the training batch and at the final evaluation's
batch of 16 and its shorter last batch). Prints compile seconds, eager and compiled ms per
step and the break-even step count. Run: `python bench/compile_breakeven.py` (two threads,
like the recipe bench; `--threads N` to change, `--steps N` for the timed steps).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

from model_trainer.core.contracts.model import Architecture, LanguageModel
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.config import TrainerSpec
from model_trainer.training.loop.optim import make_optimizer

SHAPES: dict[str, tuple[Architecture, int]] = {
    "recipe 4x4x128 T64 B12": (
        Architecture(family="gpt2", n_layer=4, n_head=4, n_embd=128, max_seq_len=64,
                     vocab_size=65, dropout=0.0),
        12,
    ),
    "mini 6x6x384 T256 B16": (
        Architecture(family="gpt2", n_layer=6, n_head=6, n_embd=384, max_seq_len=256,
                     vocab_size=65, dropout=0.0),
        16,
    ),
}  # fmt: skip
EVAL_BATCHES = (16, 14)
"""The final whole-split evaluation's batch, and the recipe's last, shorter one."""


class Args(argparse.Namespace):
    threads: int
    steps: int


def _trainer(model: LanguageModel, arch: Architecture, batch: int) -> Callable[[], None]:
    """One training step on fresh random windows, as the loop takes it."""
    spec = TrainerSpec(max_steps=1, batch_size=batch, grad_clip=1.0)
    optimizer = make_optimizer(model.module, spec, torch.device("cpu"))

    def step() -> None:
        ids = torch.randint(0, arch.vocab_size, (batch, arch.max_seq_len + 1))
        logits = model.logits(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1))
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_(model.module.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _evaluate(model: LanguageModel, arch: Architecture, batch: int) -> None:
    model.module.eval()
    with torch.no_grad():
        model.logits(torch.randint(0, arch.vocab_size, (batch, arch.max_seq_len)))
    model.module.train()


def _first_calls(model: LanguageModel, arch: Architecture, batch: int) -> float:
    """Seconds for the first training step and the first evaluation at each batch."""
    step = _trainer(model, arch, batch)
    started = time.perf_counter()
    step()
    for size in (batch, *EVAL_BATCHES):
        _evaluate(model, arch, size)
    return time.perf_counter() - started


def _ms_per_step(model: LanguageModel, arch: Architecture, batch: int, steps: int) -> float:
    step = _trainer(model, arch, batch)
    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1000


def measure(arch: Architecture, batch: int, steps: int) -> tuple[float, float, float]:
    """(compile s, eager ms/step, compiled ms/step)."""
    torch.manual_seed(0)
    eager = Gpt2Backend().build(arch)
    eager_first = _first_calls(eager, arch, batch)
    eager_ms = _ms_per_step(eager, arch, batch, steps)
    compiled = Gpt2Backend().build(arch)
    compiled.compile()
    compiled_first = _first_calls(compiled, arch, batch)
    compiled_ms = _ms_per_step(compiled, arch, batch, steps)
    return compiled_first - eager_first, eager_ms, compiled_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(namespace=Args())
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.steps} timed steps")
    for name, (arch, batch) in SHAPES.items():
        compile_s, eager_ms, compiled_ms = measure(arch, batch, args.steps)
        saved = eager_ms - compiled_ms
        even = f"{compile_s / saved * 1000:,.0f} steps" if saved > 0 else "never"
        print(
            f"{name}: compile {compile_s:.1f} s; eager {eager_ms:.1f} ms/step, compiled "
            f"{compiled_ms:.1f} ms/step ({eager_ms / compiled_ms:.2f}x); break-even {even}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
