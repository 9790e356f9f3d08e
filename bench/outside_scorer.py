"""Bits per byte: our evaluation against EleutherAI's lm-evaluation-harness, on the same
Hugging Face export and the same text.

Starts a private stack (Redis, API, worker), trains a char tokenizer and a short GPT-2 nano
run through the API, and evaluates the run on its validation split with `POST
/runs/{id}/evaluate` (or, with `--run-dir`, reads the latest completed validation evaluation
of a run trained before). Then `lm-eval`, in an interpreter of its own (`--lm-eval-python`,
a virtual environment with `lm-eval` installed), scores the run's export on the same tokens.

What is compared. Our evaluation cuts the N tokens of the text into consecutive disjoint
windows of `block = min(max_seq_len, N - 1)` inputs, each window's first input being the
previous window's last target: tokens 1 .. count * block are scored, count = (N - 1) //
block, every one once, each seeing the tokens back to the start of its window (a text of
more than `MAX_EVAL_WINDOWS` windows is read at windows spread over it, which this bench
refuses). Its loss is the mean over those tokens, and its bits per byte that loss times N
over ln 2 times the text's UTF-8 bytes.

`lm-eval`'s `loglikelihood_rolling` scores every token of a string once, in windows of the
model's max length whose first input is the previous window's last target too: the same
layout, but its first window starts with a prefix token (BOS or EOS) that is not part of the
text, which would shift every window by one token. So it is given the text's first token as
that prefix (`HFLM(prefix_token_id=...)`) and tokens 1 .. count * block as the string to
score, with `max_length` the run's `max_seq_len`: each window then holds exactly our
window's inputs and targets, and both score the same tokens with the same contexts. The
child calls `HFLM.loglikelihood_rolling` directly (no task file) on the export folder, in
float32 on the CPU, checks that `lm-eval`'s own tokenization of the string gives our token
ids, and computes bits per byte with `lm-eval`'s `bits_per_byte` aggregation over
(loglikelihood, UTF-8 bytes of the string), as its perplexity tasks do: -sum(ll) / (ln 2 *
bytes).

The two bits-per-byte figures differ only by the bytes they divide by (ours counts the whole
text, including the unscored first token and tail; for a char tokenizer on ASCII text both
are one byte per token) and by the two forward passes' floating point. The per-token losses
are printed too: they must agree to float32 rounding. Last, for scale, `lm-eval` as it
scores the whole text unmatched (its own prefix token, every token, the tail too): the
windows are shifted by one token against ours, which moves the figure by about 1e-4.

    python bench/outside_scorer.py --lm-eval-python <venv>/bin/python
    python bench/outside_scorer.py --lm-eval-python <venv>/bin/python --keep <new folder>
    python bench/outside_scorer.py --lm-eval-python <venv>/bin/python --run-dir <root>/models/<id>
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from latency_common import CORPUS, load_note, wait_run, write_corpus
from model_trainer.api.schemas.runs import EvalPublic, EvalQueued, EvaluateRequest, RunQueued
from model_trainer.client.raw import request
from model_trainer.core.job_status import JobStatus
from model_trainer.jobs.layout import ArtifactLayout, DatasetCache, RunFolder
from model_trainer.tokenizers.corpus import HoldoutStrategy
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS
from model_trainer.tokenizers.registry import discover_tokenizers
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from model_trainer.training.data.dataset import load_tokens
from model_trainer.training.data.sampler import to_long_tensor
from model_trainer.training.inference.evaluate import EvalMetrics
from model_trainer.training.loop.loop import MAX_EVAL_WINDOWS
from model_trainer.training.run.manifest import RUN_MANIFESTS, RunManifest
from stack import running_stack, train_char_tokenizer


class Args(argparse.Namespace):
    lm_eval_python: str
    run_dir: str | None
    threads: int
    steps: int
    context: int
    batch_size: int
    keep: str | None


def _train(base: str, tokenizer_id: str, steps: int, context: int) -> str:
    config = RunConfig(
        model=ModelSpec(size="nano", max_seq_len=context),
        data=DataSpec(
            tokenizer_id=tokenizer_id, corpus_path=CORPUS, holdout_strategy=HoldoutStrategy.TAIL
        ),
        trainer=TrainerSpec(
            max_steps=steps, batch_size=8, log_interval=50, eval_steps=2, eval_samples=0
        ),
    )
    status, raw = request("POST", base + "/runs/train", config)
    if status != 202:
        raise SystemExit(f"POST /runs/train answered {status}: {raw[:300]!r}")
    run_id = RunQueued.model_validate_json(raw).run_id
    if wait_run(base, run_id, timeout_s=1800) != "completed":
        raise SystemExit(f"run {run_id} did not complete")
    return run_id


def _evaluate(base: str, run_id: str) -> EvalMetrics:
    """Our evaluation of the run's validation split, through the API."""
    status, raw = request("POST", f"{base}/runs/{run_id}/evaluate", EvaluateRequest(split="val"))
    if status != 202:
        raise SystemExit(f"POST /runs/{run_id}/evaluate answered {status}: {raw[:300]!r}")
    eval_id = EvalQueued.model_validate_json(raw).eval_id
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        found = EvalPublic.model_validate_json(request("GET", f"{base}/runs/{run_id}/eval")[1])
        if found.eval_id == eval_id and found.status == JobStatus.COMPLETED and found.metrics:
            return found.metrics
        if found.eval_id == eval_id and found.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise SystemExit(f"evaluation {eval_id} ended {found.status}: {found.message}")
        time.sleep(0.2)
    raise SystemExit(f"evaluation {eval_id} did not finish")


def _latest_val_evaluation(folder: RunFolder) -> EvalMetrics:
    """The run's latest completed evaluation of its validation split."""
    for eval_id in reversed(folder.evaluations()):
        path = folder.evaluation(eval_id).metrics
        if path.is_file():
            metrics = EvalMetrics.model_validate_json(path.read_bytes())
            if metrics.split == "val":
                return metrics
    raise SystemExit(f"{folder.path} has no completed evaluation of its validation split")


class Text(BaseModel):
    """The evaluated text's ids, and what `lm-eval` is given of it."""

    model_config = ConfigDict(extra="forbid")

    tokens: int
    block: int
    windows: int
    ids: list[int]
    text: str
    """The whole text (for `lm-eval` as it would score it unmatched)."""
    scored_text: str
    """Tokens 1 .. windows * block."""


def _text(root: Path, run: RunManifest, metrics: EvalMetrics) -> Text:
    """The run's validation ids from its dataset cache, cut as our evaluation windows them."""
    info = run.dataset
    if info is None:
        raise SystemExit("the run's manifest records no dataset")
    layout = ArtifactLayout(root)
    val = load_tokens(DatasetCache(layout.datasets).folder(info.key).val, info.dtype)
    ids: list[int] = to_long_tensor(val).tolist()
    if len(ids) != metrics.tokens:
        raise SystemExit(f"{len(ids)} validation tokens, but the evaluation read {metrics.tokens}")
    block = min(run.architecture.max_seq_len, len(ids) - 1)
    count = (len(ids) - 1) // block
    if count > MAX_EVAL_WINDOWS or metrics.windows != count:
        raise SystemExit(f"{count} windows: the evaluation did not read every one")
    tok_folder = layout.tokenizer(run.tokenizer.tokenizer_id)
    tok = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
    if tok is None:
        raise SystemExit("the run's tokenizer is gone")
    handle = discover_tokenizers({}).get(tok.config.method).load(tok_folder.path)
    return Text(
        tokens=len(ids),
        block=block,
        windows=count,
        ids=ids,
        text=handle.decode(ids),
        scored_text=handle.decode(ids[1 : count * block + 1]),
    )


SCORER = """
import json, os, sys, torch
import lm_eval
from lm_eval.api.instance import Instance
from lm_eval.api.metrics import bits_per_byte
from lm_eval.models.huggingface import HFLM
export, text_file, ids_file, prefix, max_length, batch, threads = sys.argv[1:8]
torch.set_num_threads(int(threads))
text = open(text_file, encoding="utf-8").read()
lm = HFLM(pretrained=export, backend="causal", device="cpu", dtype="float32",
          max_length=int(max_length), batch_size=int(batch),
          prefix_token_id=int(prefix) if prefix else None)
ids = lm.tok_encode(text)
request = Instance(request_type="loglikelihood_rolling", doc={}, arguments=(text,), idx=0)
(ll,) = lm.loglikelihood_rolling([request], disable_tqdm=True)
size = len(text.encode("utf-8"))
print(json.dumps({"version": lm_eval.__version__, "loglikelihood": ll, "tokens": len(ids),
                  "bytes": size, "bits_per_byte": bits_per_byte([(ll, size)]),
                  "same_tokens": ids == json.load(open(ids_file))}))
"""
"""`lm-eval`'s side, in its own interpreter: its rolling loglikelihood of the string, with
the run's context as the max length and the given prefix token (an empty argument: its
own, the tokenizer's BOS or else EOS)."""


class Theirs(BaseModel):
    """What the child prints."""

    model_config = ConfigDict(extra="forbid")

    version: str
    loglikelihood: float
    tokens: int
    bytes: int
    bits_per_byte: float
    same_tokens: bool


def _lm_eval(args: Args, export: Path, text: Text, matched: bool, work: Path) -> Theirs:
    """`lm-eval` on the scored tokens with our first token as its prefix (`matched`), or on
    the whole text with its own prefix."""
    text_file, ids_file = work / "text.txt", work / "ids.json"
    text_file.write_text(text.scored_text if matched else text.text, encoding="utf-8")
    ids = text.ids[1 : text.windows * text.block + 1] if matched else text.ids
    ids_file.write_text(json.dumps(ids), encoding="utf-8")
    prefix = str(text.ids[0]) if matched else ""
    argv = [str(export), str(text_file), str(ids_file), prefix, str(text.block)]
    argv += [str(args.batch_size), str(args.threads)]
    env = dict(os.environ) | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [args.lm_eval_python, "-c", SCORER, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"lm-eval failed:\n{done.stderr[-3000:]}")
    return Theirs.model_validate_json(done.stdout.strip().splitlines()[-1])


def _relative(a: float, b: float) -> float:
    return (a - b) / b


def _report(metrics: EvalMetrics, text: Text, theirs: Theirs, unmatched: Theirs) -> None:
    ours_bpb = metrics.bits_per_byte
    if ours_bpb is None:
        raise SystemExit("the evaluation has no bits per byte (no byte count for its text)")
    their_loss = -theirs.loglikelihood / theirs.tokens
    print(f"lm-eval {theirs.version}; its tokenization gives our ids: {theirs.same_tokens}")
    if not theirs.same_tokens:
        # the figures below would compare different token streams, so they would mean nothing
        raise SystemExit("lm-eval's tokenization of the text differs from ours: not comparable")
    print(
        f"text: {text.tokens} tokens; {text.windows} windows of {text.block}; "
        f"{theirs.tokens} tokens ({theirs.bytes} bytes) scored by both"
    )
    print("figure | ours | lm-eval | relative difference")
    print(
        f"loss per scored token (nats) | {metrics.loss:.7f} | {their_loss:.7f} | "
        f"{_relative(metrics.loss, their_loss):+.2e}"
    )
    print(
        f"bits per byte | {ours_bpb:.7f} | {theirs.bits_per_byte:.7f} | "
        f"{_relative(ours_bpb, theirs.bits_per_byte):+.2e}"
    )
    same_bytes = metrics.loss * theirs.tokens / (math.log(2) * theirs.bytes)
    print(
        f"ours over the scored bytes alone | {same_bytes:.7f} | {theirs.bits_per_byte:.7f} | "
        f"{_relative(same_bytes, theirs.bits_per_byte):+.2e}"
    )
    print(
        f"unmatched: lm-eval's own prefix on all {unmatched.tokens} tokens (same tokens: "
        f"{unmatched.same_tokens}) | {ours_bpb:.7f} | {unmatched.bits_per_byte:.7f} | "
        f"{_relative(ours_bpb, unmatched.bits_per_byte):+.2e}"
    )


def _compare(args: Args, folder: RunFolder, root: Path, metrics: EvalMetrics) -> None:
    run = RUN_MANIFESTS.read(folder.manifest)
    if run is None:
        raise SystemExit(f"{folder.path} has no run manifest")
    text = _text(root, run, metrics)
    with tempfile.TemporaryDirectory() as tmp:
        theirs = _lm_eval(args, folder.export, text, True, Path(tmp))
        unmatched = _lm_eval(args, folder.export, text, False, Path(tmp))
    _report(metrics, text, theirs, unmatched)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--lm-eval-python", required=True, help="an interpreter with lm-eval installed"
    )
    parser.add_argument(
        "--run-dir", help="a completed, evaluated run's folder (<artifacts>/models/<id>)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    parser.add_argument("--steps", type=int, default=120, help="training steps of the run")
    parser.add_argument("--context", type=int, default=128, help="the run's max_seq_len")
    parser.add_argument("--batch-size", type=int, default=16, help="lm-eval's windows at once")
    parser.add_argument(
        "--keep", help="a new folder for the stack's corpus and artifacts, kept afterwards"
    )
    args = parser.parse_args(namespace=Args())
    if args.run_dir is not None:
        folder = RunFolder(Path(args.run_dir).resolve())
        _compare(args, folder, folder.path.parents[1], _latest_val_evaluation(folder))
    elif args.keep is not None:
        _trained_and_compared(args, Path(args.keep).resolve())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            _trained_and_compared(args, Path(tmp))
    print(load_note())


def _trained_and_compared(args: Args, work: Path) -> None:
    write_corpus(work / "corpus", lines=0)
    with running_stack(work, work / "corpus", args.threads) as base:
        run_id = _train(base, train_char_tokenizer(base, CORPUS), args.steps, args.context)
        metrics = _evaluate(base, run_id)
        root = work / "artifacts"
        folder = ArtifactLayout(root).run(run_id)
        print(f"run {run_id} in {folder.path}")
        _compare(args, folder, root, metrics)


if __name__ == "__main__":
    main()
