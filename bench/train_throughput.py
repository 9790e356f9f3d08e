"""Training throughput at a realistic size: our worker vs a bare loop vs Hugging Face's Trainer,
in fp32 and in bf16 autocast, on the same model, data and threads, in this one invocation.

GPT-2 4 layers / 4 heads / 256 wide, byte-level BPE vocab 8000, batch 16 x 256 tokens.
The bare loop is forward, backward and a step of PyTorch's default AdamW, nothing else (no
clipping, no logging). Our figure is a real run through the API (tokens/s from
`metrics.jsonl`, evaluation excluded). The bf16 trials run only where bf16 is native (CUDA,
AVX-512 BF16 or AMX); with `--loss-steps` the fp32 and bf16 runs also train that long and
their final validation losses are compared. Run: `python bench/train_throughput.py` (about
10 minutes on 2 cores in fp32 only, 20 with bf16).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch.nn import functional as F

from hf_trainer_baseline import hf_trainer_tokens_per_s
from model_trainer.api.schemas.runs import MetricsPublic, RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerPublic, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.plugins.gpt2 import Gpt2Backend, Gpt2Model
from model_trainer.training.config import DataSpec, ModelSpec, Precision, RunConfig, TrainerSpec
from model_trainer.training.loop.device import cpu_supports_bf16
from stack import running_stack
from tokenizer_train import build_corpus

LAYERS, HEADS, WIDTH, VOCAB, BATCH, BLOCK = 4, 4, 256, 8000, 16, 256
TARGET_VS_BARE = 0.99
TARGET_BF16 = 1.4
WARMUP = 3


class Args(argparse.Namespace):
    """Command-line options, typed."""

    steps: int
    threads: int
    rounds: int
    loss_steps: int
    corpus_mb: int


def architecture(layers: int = LAYERS, heads: int = HEADS, width: int = WIDTH) -> Architecture:
    """This benchmark's model, or (for `model_scaling.py`) another size with its vocab and block."""
    return Architecture(
        family="gpt2",
        n_layer=layers,
        n_head=heads,
        n_embd=width,
        max_seq_len=BLOCK,
        vocab_size=VOCAB,
        dropout=0.0,
    )


ARCHITECTURE = architecture()


def fresh_model(arch: Architecture = ARCHITECTURE) -> Gpt2Model:
    torch.manual_seed(1337)
    model = Gpt2Backend().build(arch)
    assert isinstance(model, Gpt2Model)
    return model


DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
PEAK_BF16_FLOPS = {"A100": 312e12, "H100": 989e12, "L4": 121e12, "4090": 165e12}
"""Dense bf16 tensor-core peaks by GPU name, for model FLOPs utilisation."""


def bare_loop(
    data: torch.Tensor,
    steps: int,
    bf16: bool,
    arch: Architecture = ARCHITECTURE,
    batch: int = BATCH,
) -> float:
    """Tokens per second of forward, backward and step on random windows of `batch` x block."""
    block = arch.max_seq_len
    model = fresh_model(arch)
    model.module.to(DEVICE)
    optimizer = torch.optim.AdamW(model.module.parameters(), lr=1e-3, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(1337)
    offsets = torch.arange(block + 1)
    started = 0.0
    for i in range(steps + WARMUP):
        if i == WARMUP:
            synchronize()
            started = time.perf_counter()
        starts = torch.randint(len(data) - block - 1, (batch,), generator=generator)
        window = data[starts.unsqueeze(1) + offsets].to(DEVICE)  # (B, T+1)
        cast = (
            torch.autocast(DEVICE.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        )
        with cast:
            logits = model.logits(window[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1))
        torch.autograd.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize()
    return steps * batch * block / (time.perf_counter() - started)


def synchronize() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def peak_flops() -> float | None:
    """The GPU's dense bf16 peak when we know it; None on CPU or unknown cards."""
    if DEVICE.type != "cuda":
        return None
    name = torch.cuda.get_device_name(DEVICE)
    return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)


def run_config(tokenizer_id: str, steps: int, precision: Precision, eval_steps: int) -> RunConfig:
    return RunConfig(
        model=ModelSpec(size="tiny", n_layer=LAYERS, n_head=HEADS, n_embd=WIDTH, max_seq_len=BLOCK),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="corpus.txt"),
        trainer=TrainerSpec(
            max_steps=steps,
            batch_size=BATCH,
            warmup_steps=min(100, steps // 10),
            eval_interval=steps,
            eval_steps=eval_steps,
            checkpoint_interval=steps,
            log_interval=max(1, steps // 8),
            precision=precision,
        ),
    )


def worker_run(base: str, config: RunConfig) -> RunPublic:
    raw = request("POST", base + "/runs/train", config)[1]
    run_id = RunQueued.model_validate_json(raw).run_id
    while True:
        run = RunPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}")[1])
        if run.status in ("completed", "failed", "cancelled"):
            if run.status != "completed":
                raise SystemExit(f"run {run_id} {run.status}: {run.message}")
            return run
        time.sleep(0.5)


def worker_rate(base: str, run: RunPublic) -> float:
    """Median tokens/s over the logging intervals after the first (which holds warm-up)."""
    raw = request("GET", f"{base}/runs/{run.run_id}/metrics")[1]
    rates = [m.tokens_per_s for m in MetricsPublic.model_validate_json(raw).data if m.tokens_per_s]
    return statistics.median(rates[1:] or rates)


def train_bpe(base: str) -> str:
    body = TokenizerCreate(
        method=TokenizerMethod.BPE, vocab_size=VOCAB, min_frequency=2, corpus_path="corpus.txt"
    )
    tokenizer_id = TokenizerQueued.model_validate_json(
        request("POST", base + "/tokenizers/train", body)[1]
    ).tokenizer_id
    while (
        view := TokenizerPublic.model_validate_json(
            request("GET", f"{base}/tokenizers/{tokenizer_id}")[1]
        )
    ).status not in ("completed", "failed"):
        time.sleep(0.3)
    if view.status != "completed":
        raise SystemExit(f"tokenizer failed: {view.message}")
    return tokenizer_id


def encoded(work: Path, tokenizer_id: str) -> torch.Tensor:
    """The corpus as token ids, for the in-process baselines."""

    folder = ArtifactLayout(work / "artifacts").tokenizer(tokenizer_id)
    tok = Tokenizer.from_file(str(folder.path / "tokenizer.json"))
    lines = (work / "corpus" / "corpus.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    ids = [i for e in tok.encode_batch_fast(lines, add_special_tokens=False) for i in e.ids]
    return torch.tensor(ids, dtype=torch.long)


def flops_per_token(arch: Architecture = ARCHITECTURE) -> float:
    """Training FLOPs per token, as the GPT-2 plugin counts them (6 per parameter plus
    attention's 12 x layers x block x width)."""
    return float(Gpt2Backend().flops_per_token(arch))


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of one trial's rate over another's from the same round."""
    return statistics.median(n / d for n, d in zip(numerator, denominator, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--loss-steps", type=int, default=200, help="0 skips the loss check")
    parser.add_argument("--corpus-mb", type=int, default=4)
    args = parser.parse_args(namespace=Args())
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    (work / "corpus").mkdir()
    build_corpus(work / "corpus", args.corpus_mb).rename(work / "corpus" / "corpus.txt")
    bf16 = cpu_supports_bf16() or torch.cuda.is_available()
    if not bf16:
        print("no native bf16 here (emulated it is many times slower): fp32 trials only")
    rates: dict[str, list[float]] = {}
    with running_stack(work, work / "corpus", args.threads) as base:
        tokenizer_id = train_bpe(base)
        data = encoded(work, tokenizer_id)
        ours = args.steps + WARMUP
        for round_ in range(args.rounds):
            trials: dict[str, Callable[[], float]] = {
                "bare fp32": lambda: bare_loop(data, args.steps, bf16=False),
                "HF Trainer fp32": lambda: hf_trainer_tokens_per_s(
                    fresh_model().hf_model, data, BATCH, BLOCK, args.steps, WARMUP
                ),
                "ours fp32": lambda: worker_rate(
                    base, worker_run(base, run_config(tokenizer_id, ours, Precision.FP32, 1))
                ),
            }
            if bf16:
                trials["bare bf16"] = lambda: bare_loop(data, args.steps, bf16=True)
                trials["ours auto (bf16)"] = lambda: worker_rate(
                    base, worker_run(base, run_config(tokenizer_id, ours, Precision.AUTO, 1))
                )
            # Alternate the order each round, so a slow drift of the machine (this kind of VM
            # varies by 10% from minute to minute) does not favour whoever runs first.
            order = list(trials.items()) if round_ % 2 == 0 else list(trials.items())[::-1]
            for name, trial in order:
                rates.setdefault(name, []).append(trial())
                print(f"  {name}: {rates[name][-1]:,.0f} tok/s", flush=True)
        losses: dict[Precision, float] = {}
        for precision in (Precision.FP32, Precision.AUTO) if args.loss_steps and bf16 else ():
            run = worker_run(base, run_config(tokenizer_id, args.loss_steps, precision, 20))
            losses[precision] = run.metrics.final_val_loss or float("nan")
    median = {name: statistics.median(values) for name, values in rates.items()}
    gflops = {name: rate * flops_per_token() / 1e9 for name, rate in median.items()}
    print(
        f"GPT-2 {LAYERS}/{HEADS}/{WIDTH}, vocab {VOCAB}, batch {BATCH} x {BLOCK}, "
        f"{args.threads} threads, {args.rounds} rounds (median rate; ratio = median of the "
        f"rounds' own ratios to that round's bare fp32):"
    )
    peak = peak_flops()
    ratios = {name: paired_ratio(rates[name], rates["bare fp32"]) for name in rates}
    for name, rate in median.items():
        mfu = f"  MFU {gflops[name] * 1e9 / peak:.1%}" if peak else ""
        print(
            f"  {name:18} {rate:9,.0f} tok/s  {gflops[name]:6.1f} GFLOP/s  "
            f"{ratios[name]:.3f} of bare fp32{mfu}"
        )
    ok = ratios["ours fp32"] >= TARGET_VS_BARE and ratios["ours fp32"] > ratios["HF Trainer fp32"]
    print(
        f"ours fp32 vs bare fp32: {ratios['ours fp32']:.3f} (target >= {TARGET_VS_BARE}); "
        f"HF Trainer vs bare: {ratios['HF Trainer fp32']:.3f}"
    )
    if "ours auto (bf16)" in median:
        speedup = paired_ratio(rates["ours auto (bf16)"], rates["ours fp32"])
        ok = ok and speedup >= TARGET_BF16
        print(f"ours bf16 vs ours fp32: {speedup:.2f}x (target >= {TARGET_BF16}x)")
    if len(losses) == 2:
        gap = losses[Precision.AUTO] / losses[Precision.FP32] - 1
        ok = ok and abs(gap) <= 0.01
        print(
            f"final val loss after {args.loss_steps} steps: fp32 {losses[Precision.FP32]:.4f}, "
            f"bf16 {losses[Precision.AUTO]:.4f} ({gap:+.2%}; target within 1%)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
