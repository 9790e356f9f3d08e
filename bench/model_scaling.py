"""Training throughput vs model size, against this machine's own fp32 matmul peak.

For a ladder of GPT-2 sizes from nano (4 layers, 128 wide) to GPT-2 small (12 layers, 768
wide), vocab 8000, block 256, batch 16 for every size: the bare loop of `train_throughput.py`
(forward, backward, AdamW step, zero_grad; the model built by our GPT-2 backend; fp32; 3
warm-up steps not timed) on random token ids, which cost the same as real text. Training FLOPs
per token are 6 * params + 12 * layers * block * width, with params = 12 * layers * width^2 +
vocab * width + block * width; achieved GFLOP/s is tokens/s times that. The peak it is set
against is the best of a few square fp32 matmuls (2048 and 4096 wide, 2 n^3 FLOPs each) on
the same threads, measured before and after the models with the higher figure kept, so that
a passing burst of other work on the shared cores lowers it less. Timed steps per size are
chosen to take about `--seconds` each (3 at least): the whole ladder takes about 5 minutes on
2 cores. Run: `python bench/model_scaling.py [--sizes 4/4/128,...] [--steps N] [--json PATH]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from model_trainer.core.contracts.model import Architecture
from model_trainer.plugins.gpt2 import Gpt2Backend
from results import Machine, ModelPoint, ModelScalingResults, write
from train_throughput import (
    BLOCK,
    DEVICE,
    VOCAB,
    WARMUP,
    architecture,
    bare_loop,
    flops_per_token,
    synchronize,
)

LADDER = "4/4/128,4/4/256,6/6/384,8/8/512,12/12/768"
MATMUL_SIZES = (2048, 4096)
MATMUL_REPEATS = 5
DATA_TOKENS = 1_000_000
GUESSED_FRACTION = 0.5
"""Of the matmul peak, to turn `--seconds` into steps before a size has been measured."""
MIN_STEPS, MAX_STEPS = 3, 50


class Args(argparse.Namespace):
    """Command-line options, typed."""

    sizes: str
    batch: int
    steps: int
    seconds: float
    threads: int
    json: str


def matmul_peak() -> tuple[float, int]:
    """The best fp32 GFLOP/s of square matmuls on `DEVICE`, and the side that reached it."""
    best, best_side = 0.0, 0
    for side in MATMUL_SIZES:
        a, b = torch.randn(side, side, device=DEVICE), torch.randn(side, side, device=DEVICE)
        out = torch.empty(side, side, device=DEVICE)
        torch.mm(a, b, out=out)  # the first call wakes the thread pool and faults pages in
        for _ in range(MATMUL_REPEATS):
            synchronize()
            started = time.perf_counter()
            torch.mm(a, b, out=out)
            synchronize()
            gflops = 2 * side**3 / (time.perf_counter() - started) / 1e9
            if gflops > best:
                best, best_side = gflops, side
    return best, best_side


def parse_sizes(spec: str) -> list[Architecture]:
    """`layers/heads/width,...` as architectures with this benchmark's vocab and block."""
    sizes: list[Architecture] = []
    for item in spec.split(","):
        layers, heads, width = (int(part) for part in item.split("/"))
        sizes.append(architecture(layers, heads, width))
    return sizes


def name(arch: Architecture) -> str:
    return f"{arch.n_layer}/{arch.n_head}/{arch.n_embd}"


def timed_steps(args: Args, arch: Architecture, peak_gflops: float) -> int:
    """`--steps`, or as many as should take about `--seconds` if the size ran at a guessed
    fraction of the peak: small models need many steps for a steady figure, GPT-2 small
    needs several seconds for each one."""
    if args.steps:
        return args.steps
    step_flops = flops_per_token(arch) * args.batch * BLOCK
    guess_s = step_flops / (peak_gflops * 1e9 * GUESSED_FRACTION)
    return max(MIN_STEPS, min(MAX_STEPS, round(args.seconds / guess_s)))


def measure(args: Args, arch: Architecture, data: torch.Tensor, peak_gflops: float) -> ModelPoint:
    steps = timed_steps(args, arch, peak_gflops)
    tokens_per_s = bare_loop(data, steps, bf16=False, arch=arch, batch=args.batch)
    gflops = tokens_per_s * flops_per_token(arch) / 1e9
    return ModelPoint(
        name=name(arch),
        n_layer=arch.n_layer,
        n_head=arch.n_head,
        n_embd=arch.n_embd,
        params=Gpt2Backend().parameter_count(arch),
        flops_per_token=flops_per_token(arch),
        batch=args.batch,
        steps=steps,
        tokens_per_s=tokens_per_s,
        gflops=gflops,
        fraction_of_peak=gflops / peak_gflops,
    )


def row(point: ModelPoint) -> str:
    return (
        f"| {point.name} | {point.params / 1e6:.1f}M | {point.flops_per_token / 1e6:.0f}M "
        f"| {point.batch} x {BLOCK} | {point.steps} | {point.tokens_per_s:,.0f} "
        f"| {point.gflops:.1f} | {point.fraction_of_peak:.1%} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=LADDER, help="layers/heads/width, comma-separated")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step, every size")
    parser.add_argument("--steps", type=int, default=0, help="timed steps per size (0: auto)")
    parser.add_argument("--seconds", type=float, default=30.0, help="timed seconds per size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(namespace=Args())
    torch.set_num_threads(args.threads)
    sizes = parse_sizes(args.sizes)  # before anything is measured, so a typo fails at once
    machine = Machine.now()
    peak, side = matmul_peak()
    print(f"fp32 matmul peak: {peak:.1f} GFLOP/s ({side} x {side}), load {machine.load_start:.2f}")
    # Random ids: the loop's cost depends on shapes only, so no tokenizer or corpus is needed.
    data = torch.randint(VOCAB, (DATA_TOKENS,), generator=torch.Generator().manual_seed(1337))
    points: list[ModelPoint] = []
    for arch in sizes:
        points.append(measure(args, arch, data, peak))
        print(f"  {points[-1].name}: {points[-1].tokens_per_s:,.0f} tokens/s", flush=True)
    after, after_side = matmul_peak()
    machine.finish()
    print(f"fp32 matmul peak again: {after:.1f} GFLOP/s ({after_side} x {after_side})")
    if after > peak:
        peak, side = after, after_side
        for point in points:
            point.fraction_of_peak = point.gflops / peak
    print(
        f"GPT-2, vocab {VOCAB}, block {BLOCK}, fp32, {args.threads} threads on {DEVICE.type}, "
        f"{WARMUP} warm-up steps each; matmul peak {peak:.1f} GFLOP/s; load "
        f"{machine.load_start:.2f} -> {machine.load_end:.2f} (1 min average)\n"
        "| layers/heads/width | params | FLOPs/token | batch x block | timed steps "
        "| tokens/s | GFLOP/s | of matmul peak |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    for point in points:
        print(row(point))
    if args.json:
        results = ModelScalingResults(
            machine=machine,
            device=DEVICE.type,
            threads=args.threads,
            vocab=VOCAB,
            block=BLOCK,
            matmul_peak_gflops=peak,
            matmul_size=side,
            models=points,
        )
        write(Path(args.json), results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
