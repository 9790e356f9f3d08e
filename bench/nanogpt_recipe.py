"""nanoGPT's CPU Shakespeare recipe through the API: does the run reach nanoGPT's val loss?

char tokenizer, tail 10% holdout, GPT-2 4 layers / 4 heads / 128 wide, block 64, batch 12,
2000 steps, lr 1e-3 decaying to 1e-4, warmup 100, beta2 0.99, dropout 0. nanoGPT reports a
validation loss of about 1.88 for this recipe. Run: `python bench/nanogpt_recipe.py`.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerPublic, TokenizerQueued
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.demo_client import request
from model_trainer.tokenizers.corpus import HoldoutStrategy
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from stack import SHARED_CORPUS, running_stack

NANOGPT_VAL_LOSS = 1.88


class Args(argparse.Namespace):
    """Command-line options, typed."""

    steps: int
    threads: int
    repeat: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(namespace=Args())
    if not SHARED_CORPUS.is_file():
        print(f"needs {SHARED_CORPUS.name} beside the project (../shared/corpus/)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-nanogpt-"))
    corpus = work / "corpus"
    corpus.mkdir()
    shutil.copy(SHARED_CORPUS, corpus / "shakespeare.txt")
    with running_stack(work, corpus, args.threads) as base:
        status, raw = request(
            "POST",
            base + "/tokenizers/train",
            TokenizerCreate(
                method=TokenizerMethod.CHAR,
                vocab_size=256,
                min_frequency=1,
                corpus_path="shakespeare.txt",
                holdout_fraction=0.1,
                seed=1,
            ),
        )
        tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
        while True:
            tok = TokenizerPublic.model_validate_json(
                request("GET", f"{base}/tokenizers/{tokenizer_id}")[1]
            )
            if tok.status in ("completed", "failed"):
                break
            time.sleep(0.2)
        config = RunConfig(
            model=ModelSpec(size="nano", max_seq_len=64, dropout=0.0),
            data=DataSpec(
                tokenizer_id=tokenizer_id,
                corpus_path="shakespeare.txt",
                holdout_fraction=0.1,
                holdout_strategy=HoldoutStrategy.TAIL,
            ),
            trainer=TrainerSpec(
                max_steps=args.steps,
                batch_size=12,
                learning_rate=1e-3,
                min_lr=1e-4,
                warmup_steps=100,
                beta2=0.99,
                eval_interval=250,
                eval_steps=20,
                checkpoint_interval=1000,
                seed=1337,
            ),
        )
        started = time.monotonic()
        status, raw = request("POST", base + "/runs/train", config)
        if status != 202:
            print(f"refused: {status} {raw.decode()}")
            return 1
        run_id = RunQueued.model_validate_json(raw).run_id
        while True:
            run = RunPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}")[1])
            if run.status in ("completed", "failed", "cancelled"):
                break
            time.sleep(1.0)
        wall = time.monotonic() - started
    val = run.metrics.final_val_loss
    print(
        f"status {run.status}; {args.steps} steps in {wall:.1f} s end to end "
        f"(enqueue to completed, evaluations included)"
    )
    print(f"train tokens/s (last interval): {run.metrics.tokens_per_s or 0:,.0f}")
    verdict = "PASS" if val is not None and val <= NANOGPT_VAL_LOSS else "FAIL"
    print(f"val loss {val} vs nanoGPT {NANOGPT_VAL_LOSS} -> {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
