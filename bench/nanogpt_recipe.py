"""nanoGPT's CPU Shakespeare recipe through the API: does the run reach nanoGPT's val loss?

char tokenizer, tail 10% holdout, GPT-2 4 layers / 4 heads / 128 wide, block 64, batch 12,
2000 steps, lr 1e-3 decaying to 1e-4, warmup 100, beta2 0.99, dropout 0. nanoGPT reports a
validation loss of about 1.88 for this recipe (its estimate from 20 random batches).

The figure printed here is the loss over the whole validation split (every non-overlapping
window), which has no sampling noise. With `--nanogpt PATH` (a nanoGPT checkout) nanoGPT's
own train.py runs the recipe in the same invocation, is timed, and its final weights are
scored by the same function over the same text. Run: `python bench/nanogpt_recipe.py
--seeds 1337,1338,1339 --nanogpt ~/src/nanoGPT`.

`--family llama` (or any installed family) trains that family's `nano` size instead, at
the same depth, heads and width as GPT-2's, with everything else the same.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.client.raw import request
from model_trainer.core.settings import WorkerSettings
from model_trainer.tokenizers.corpus import HoldoutStrategy, split_corpus
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from nanogpt_baseline import (
    encode_for_nanogpt,
    nanogpt_as_gpt2,
    nanogpt_val_bin,
    run_nanogpt,
    whole_split_loss,
)
from stack import SHARED_CORPUS, running_stack, train_char_tokenizer

NANOGPT_VAL_LOSS = 1.88
"""nanoGPT's published figure for this recipe."""
NANOGPT_SEED = 1337
"""nanoGPT's train.py always seeds 1337 on one process."""


class Args(argparse.Namespace):
    """Command-line options, typed."""

    steps: int
    threads: int
    seeds: str
    nanogpt: Path | None
    family: str


def recipe(tokenizer_id: str, steps: int, seed: int, family: str = "gpt2") -> RunConfig:
    return RunConfig(
        model=ModelSpec(family=family, size="nano", max_seq_len=64, dropout=0.0),
        data=DataSpec(
            tokenizer_id=tokenizer_id,
            corpus_path="shakespeare.txt",
            holdout_fraction=0.1,
            holdout_strategy=HoldoutStrategy.TAIL,
        ),
        trainer=TrainerSpec(
            max_steps=steps,
            batch_size=12,
            learning_rate=1e-3,
            min_lr=1e-4,
            warmup_steps=100,
            beta2=0.99,
            eval_interval=250,
            eval_steps=20,
            checkpoint_interval=1000,
            eval_samples=0,  # like for like: nanoGPT writes no samples while it trains
            seed=seed,
        ),
    )


def train(base: str, config: RunConfig) -> tuple[RunPublic, float]:
    started = time.monotonic()
    status, raw = request("POST", base + "/runs/train", config)
    if status != 202:
        raise SystemExit(f"refused: {status} {raw.decode()}")
    run_id = RunQueued.model_validate_json(raw).run_id
    while True:
        run = RunPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}")[1])
        if run.status in ("completed", "failed", "cancelled"):
            return run, time.monotonic() - started
        time.sleep(0.5)


def holdout_text(work: Path, corpus: Path) -> str:
    """The validation text our runs are scored on: the corpus's last 10%, by line."""
    split = split_corpus([corpus], corpus.parent, work / "split", 0.1, 1, HoldoutStrategy.TAIL)
    return split.holdout_file.read_text(encoding="utf-8")


def compare(args: Args, work: Path, corpus: Path, ours: dict[int, tuple[float, float]]) -> bool:
    """Run nanoGPT's train.py, score it like ours, print both; True when ours is no worse."""
    if args.nanogpt is None:
        return True
    nice = WorkerSettings().nice  # what our worker trains at (the default, as in the stack)
    theirs = run_nanogpt(args.nanogpt, work, corpus, args.steps, args.threads, nice)
    model = nanogpt_as_gpt2(theirs.checkpoint)
    same_text = whole_split_loss(
        model, encode_for_nanogpt(theirs.meta, holdout_text(work, corpus)), 64
    )
    own_split = whole_split_loss(model, nanogpt_val_bin(theirs.val_bin), 64)
    print(
        f"nanoGPT train.py, seed {NANOGPT_SEED}: {theirs.wall_s:.1f} s (train.py alone); "
        f"val loss {same_text:.4f} over our validation text, {own_split:.4f} over its own "
        f"val.bin, {theirs.printed_val_loss:.4f} in its printout (20 random batches)"
    )
    if NANOGPT_SEED not in ours:
        print(f"(add seed {NANOGPT_SEED} to --seeds for a seed-matched comparison)")
        return True
    loss, wall = ours[NANOGPT_SEED]
    print(
        f"side by side, seed {NANOGPT_SEED}: val loss ours {loss:.4f} vs nanoGPT "
        f"{same_text:.4f} ({loss - same_text:+.4f}); wall ours {wall:.1f} s end to end vs "
        f"nanoGPT {theirs.wall_s:.1f} s, ratio {wall / theirs.wall_s:.3f}"
    )
    return loss <= same_text and wall <= theirs.wall_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", default="1337", help="comma-separated training seeds")
    parser.add_argument("--nanogpt", type=Path, default=None, help="a nanoGPT checkout to run")
    parser.add_argument("--family", default="gpt2", help="the model family whose nano size runs")
    args = parser.parse_args(namespace=Args())
    if not SHARED_CORPUS.is_file():
        print(f"needs {SHARED_CORPUS.name} beside the project (../shared/corpus/)")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-nanogpt-") as folder:
        return _measure(args, Path(folder))


def _measure(args: Args, work: Path) -> int:
    """Ours for each seed, then nanoGPT's when asked; the exit status."""
    corpus = work / "corpus"
    corpus.mkdir()
    shutil.copy(SHARED_CORPUS, corpus / "shakespeare.txt")
    seeds = [int(s) for s in args.seeds.split(",")]
    ours: dict[int, tuple[float, float]] = {}
    with running_stack(work, corpus, args.threads) as base:
        tokenizer_id = train_char_tokenizer(base)
        for seed in seeds:
            run, wall = train(base, recipe(tokenizer_id, args.steps, seed, args.family))
            val = run.metrics.final_val_loss
            if run.status != "completed" or val is None:
                raise SystemExit(f"seed {seed}: {run.status}: {run.message}")
            ours[seed] = (val, wall)
            print(
                f"{args.family}, seed {seed}: val loss {val:.4f} (whole split), train loss "
                f"{run.metrics.final_train_loss or 0:.4f}; {args.steps} steps in {wall:.1f} s "
                f"end to end (enqueue to completed, evaluations included), "
                f"{run.metrics.tokens_per_s or 0:,.0f} tok/s"
            )
    mean = statistics.mean(loss for loss, _ in ours.values())
    print(
        f"mean val loss {mean:.4f} over {len(ours)} seed(s) (nanoGPT's published figure "
        f"{NANOGPT_VAL_LOSS}, from 20 random batches)"
    )
    return 0 if compare(args, work, corpus / "shakespeare.txt", ours) else 1


if __name__ == "__main__":
    raise SystemExit(main())
