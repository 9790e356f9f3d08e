"""Tokens per second of one run in 1 and in 2 processes (`trainer.nproc`), side by side.

Both go through the API and a real worker with the same cores (`--threads`, shared out among
the ranks), model, data, global batch and steps; the rounds alternate their order. On one
machine's CPU the two processes share the cores one process had, so the ideal ratio is 1.0:
what falls short of it is the price of the process group (gradient all-reduce over gloo,
each rank's own optimizer step and evaluation). On N GPUs each rank brings its own device and
the same ratio is the scaling efficiency against N times one.

Run: `python bench/distributed.py` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from model_trainer.training.config import DataSpec, ModelSpec, Precision, RunConfig, TrainerSpec
from stack import SHARED_CORPUS, running_stack, train_char_tokenizer
from tokenizer_train import build_corpus
from train_throughput import worker_rate, worker_run

LAYERS, HEADS, WIDTH, BLOCK, BATCH = 4, 4, 256, 128, 16


class Args(argparse.Namespace):
    """Command-line options, typed."""

    steps: int
    threads: int
    rounds: int


def _config(tokenizer_id: str, steps: int, nproc: int) -> RunConfig:
    return RunConfig(
        model=ModelSpec(size="tiny", n_layer=LAYERS, n_head=HEADS, n_embd=WIDTH, max_seq_len=BLOCK),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="shakespeare.txt"),
        trainer=TrainerSpec(
            max_steps=steps,
            batch_size=BATCH,
            eval_interval=steps,
            eval_steps=1,
            checkpoint_interval=steps,
            log_interval=max(1, steps // 6),
            precision=Precision.FP32,
            nproc=nproc,
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(namespace=Args())
    rates: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus"
        corpus.mkdir()
        target = corpus / "shakespeare.txt"
        if SHARED_CORPUS.is_file():
            target.write_bytes(SHARED_CORPUS.read_bytes())
        else:  # standard-library sources stand in
            build_corpus(corpus, 1).rename(target)
        with running_stack(work, corpus, args.threads) as base:
            tokenizer_id = train_char_tokenizer(base, "shakespeare.txt")
            for round_ in range(args.rounds):
                order = [1, 2] if round_ % 2 == 0 else [2, 1]
                for nproc in order:
                    run = worker_run(base, _config(tokenizer_id, args.steps, nproc))
                    rates[nproc].append(worker_rate(base, run))
                    print(f"  round {round_ + 1}, nproc {nproc}: {rates[nproc][-1]:,.0f} tok/s")
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    ratio = statistics.median(b / a for a, b in zip(rates[1], rates[2], strict=True))
    print(
        f"GPT-2 {LAYERS}L/{HEADS}H/{WIDTH}, batch {BATCH} x {BLOCK}, {args.threads} threads, "
        f"{args.steps} steps, {args.rounds} rounds"
    )
    print(f"nproc 1: {one:,.0f} tok/s (median)")
    print(f"nproc 2: {two:,.0f} tok/s (median)")
    print(f"2 processes / 1 on the same cores: {ratio:.2f} (paired median; ideal 1.00)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
