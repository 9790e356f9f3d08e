"""Fault injection against the real stack: kill workers at random moments, restart Redis and
the API mid-run, and check that every run finishes with the weights of an uninterrupted run.

Run: `python bench/fault_injection.py --kills 5`. Prints one line per trial and a summary
(kill points survived, time from kill to resumed training, restarts survived, largest weight
difference from the uninterrupted run).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from model_trainer.api.schemas.runs import RunQueued, RunsPublic
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerPublic, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from stack import ROOT

sys.path.insert(0, str(ROOT / "server" / "tests"))
from e2e.processes import ProcessStack  # noqa: E402  (the test suite's process control)

STEPS = 1200
REDIS_DOWN_S = 4.0
"""Longer than the heartbeat TTL, so every key Redis held has lapsed for good."""


class Args(argparse.Namespace):
    """Command-line options, typed."""

    kills: int
    seed: int


def start_run(stack: ProcessStack, tokenizer_id: str) -> str:
    config = RunConfig(
        model=ModelSpec(size="nano", n_layer=2, n_head=2, n_embd=64, max_seq_len=64),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="text.txt"),
        trainer=TrainerSpec(
            max_steps=STEPS,
            batch_size=8,
            eval_interval=300,
            eval_steps=4,
            checkpoint_interval=25,
            log_interval=10,
            seed=5,
        ),
    )
    return RunQueued.model_validate_json(
        request("POST", stack.base + "/runs/train", config)[1]
    ).run_id


def weights(stack: ProcessStack, run_id: str) -> dict[str, torch.Tensor]:
    export = ArtifactLayout(Path(stack.env["ARTIFACTS_ROOT"])).run(run_id).export
    return load_file(str(export / "model.safetensors"))


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max().item()) for k in a)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(namespace=Args())
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    (work / "corpus").mkdir()
    words = "to be or not that is the question whether tis nobler in mind suffer".split()
    (work / "corpus" / "text.txt").write_text(
        "".join(
            " ".join(words[(i * 7 + j) % len(words)] for j in range(3 + i % 11)) + "\n"
            for i in range(20000)
        ),
        encoding="utf-8",
    )
    stack = ProcessStack(work, work / "artifacts", work / "corpus")
    for name in ("redis", "api", "worker"):
        stack.start(name)
    try:
        stack.wait_ready()
        raw = request(
            "POST",
            stack.base + "/tokenizers/train",
            TokenizerCreate(
                method=TokenizerMethod.CHAR, vocab_size=100, min_frequency=1, corpus_path="text.txt"
            ),
        )[1]
        tok = TokenizerQueued.model_validate_json(raw).tokenizer_id
        while (
            TokenizerPublic.model_validate_json(
                request("GET", f"{stack.base}/tokenizers/{tok}")[1]
            ).status
            != "completed"
        ):
            time.sleep(0.2)
        reference = start_run(stack, tok)
        stack.wait_run(reference, {"completed"})
        expected = weights(stack, reference)
        survived, resume_times, diffs = 0, [], []
        for trial in range(args.kills):
            run_id = start_run(stack, tok)
            kill_at = rng.randrange(20, STEPS - 100)
            stack.wait_run(run_id, {"completed"}, at_step=kill_at)
            time.sleep(rng.random() * 0.3)  # land anywhere: mid-step, checkpoint, eval
            stack.kill("worker")
            killed = time.monotonic()
            stack.start("worker")
            stack.wait_run(run_id, {"stalled", "completed"})
            resumed = stack.wait_run(run_id, {"running", "completed"})
            while resumed.status == "running" and resumed.progress.step <= kill_at:
                resumed = stack.wait_run(run_id, {"running", "completed"})
            resume_times.append(time.monotonic() - killed)
            run = stack.wait_run(run_id, {"completed", "failed"})
            ok = run.status == "completed"
            if ok:
                diffs.append(max_diff(expected, weights(stack, run_id)))
                survived += ok and diffs[-1] < 1e-4
            print(
                f"  kill {trial + 1}: near step {kill_at}: {run.status}, "
                f"max |dw| {diffs[-1] if ok else float('nan'):.2e}"
            )
        # Redis restarted with no persistence while a run trains
        run_id = start_run(stack, tok)
        stack.wait_run(run_id, {"completed"}, at_step=STEPS // 3)
        stack.kill("redis")
        time.sleep(REDIS_DOWN_S)
        stack.start("redis")
        # ...and the API restarted while it trains
        stack.kill("api")
        stack.start("api")
        stack.wait_ready()
        run = stack.wait_run(run_id, {"completed", "failed"})
        listed = RunsPublic.model_validate_json(request("GET", stack.base + "/runs")[1])
        restart_ok = (
            run.status == "completed"
            and max_diff(expected, weights(stack, run_id)) < 1e-4
            and run_id in {r.run_id for r in listed.data}
        )
    finally:
        stack.stop_all()
    median = sorted(resume_times)[len(resume_times) // 2]
    print(
        f"kill points survived: {survived}/{args.kills}; from kill to training again: "
        f"max {max(resume_times):.1f} s, median {median:.1f} s; "
        f"largest weight difference {max(diffs, default=0):.2e}"
    )
    print(f"Redis restart + API restart mid-run: {'survived' if restart_ok else 'FAILED'}")
    return 0 if survived == args.kills and restart_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
