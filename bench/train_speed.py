"""Training throughput: the worker's loop vs a bare PyTorch loop, same model, data, threads.

The bare loop does forward, backward and optimizer step and nothing else. The worker's
figure comes from a real run through the API (`metrics.jsonl`: tokens per second over each
logging interval, evaluations excluded). Both run in this invocation, alternating, and the
ratio is printed. Run: `python bench/train_speed.py`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from model_trainer.api.schemas.runs import MetricsPublic, RunPublic, RunQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.model import Architecture
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.tokenizers.corpus import HoldoutStrategy
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from model_trainer.training.loop.optim import make_optimizer
from stack import SHARED_CORPUS, running_stack, train_char_tokenizer

TARGET = 0.98


def bare_loop(text: str, steps: int, threads: int, batch: int, block: int) -> float:
    """Tokens per second of forward/backward/step on random windows (char ids)."""
    torch.set_num_threads(threads)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids: list[int] = [index[c] for c in text]
    data = torch.tensor(ids, dtype=torch.long)
    arch = Architecture(
        family="gpt2",
        n_layer=4,
        n_head=4,
        n_embd=128,
        max_seq_len=block,
        vocab_size=len(chars) + 1,
        dropout=0.0,
    )
    torch.manual_seed(1337)
    model = Gpt2Backend().build(arch)
    optimizer = make_optimizer(model.module, TrainerSpec(), torch.device("cpu"))
    generator = torch.Generator().manual_seed(1337)
    offsets = torch.arange(block + 1)
    warmup = 10
    for i in range(steps + warmup):
        if i == warmup:
            started = time.perf_counter()
        starts = torch.randint(len(data) - block - 1, (batch,), generator=generator)
        window = data[starts.unsqueeze(1) + offsets]
        logits = model.logits(window[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), window[:, 1:].reshape(-1))
        torch.autograd.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batch * block / (time.perf_counter() - started)


def worker_run(base: str, tokenizer_id: str, steps: int, batch: int, block: int) -> float:
    """Tokens per second the worker reports over its logging intervals."""
    config = RunConfig(
        model=ModelSpec(size="nano", max_seq_len=block),
        data=DataSpec(
            tokenizer_id=tokenizer_id,
            corpus_path="shakespeare.txt",
            holdout_strategy=HoldoutStrategy.TAIL,
        ),
        trainer=TrainerSpec(
            max_steps=steps,
            batch_size=batch,
            eval_interval=steps,
            eval_steps=5,
            checkpoint_interval=steps,
            log_interval=50,
        ),
    )
    run_id = RunQueued.model_validate_json(request("POST", base + "/runs/train", config)[1]).run_id
    while True:
        run = RunPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}")[1])
        if run.status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.5)
    metrics = MetricsPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}/metrics")[1])
    rates = [m.tokens_per_s for m in metrics.data if m.kind == "train" and m.tokens_per_s]
    return statistics.median(rates[1:] or rates)  # the first interval includes warm-up


class Args(argparse.Namespace):
    """Command-line options, typed."""

    steps: int
    threads: int
    repeat: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(namespace=Args())
    if not SHARED_CORPUS.is_file():
        print(f"needs {SHARED_CORPUS.name} beside the project (../shared/corpus/)")
        return 2
    text = SHARED_CORPUS.read_text(encoding="utf-8")
    batch, block = 12, 64
    work = Path(tempfile.mkdtemp(prefix="bench-speed-"))
    corpus = work / "corpus"
    corpus.mkdir()
    shutil.copy(SHARED_CORPUS, corpus / "shakespeare.txt")
    bare: list[float] = []
    ours: list[float] = []
    with running_stack(work, corpus, args.threads) as base:
        tokenizer_id = train_char_tokenizer(base)
        for _ in range(args.repeat):
            bare.append(bare_loop(text, args.steps, args.threads, batch, block))
            ours.append(worker_run(base, tokenizer_id, args.steps, batch, block))
            print(f"  bare {bare[-1]:,.0f} tok/s   worker {ours[-1]:,.0f} tok/s")
    ratio = statistics.median(ours) / statistics.median(bare)
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(
        f"GPT-2 nano, batch {batch} x {block}, {args.threads} threads: worker "
        f"{statistics.median(ours):,.0f} tok/s vs bare {statistics.median(bare):,.0f} tok/s "
        f"-> ratio {ratio:.3f} (target >= {TARGET}) {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
