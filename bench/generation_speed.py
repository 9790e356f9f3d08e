"""Generation speed through the API against `transformers`' `generate()` on the same export.

Starts a private stack (Redis, API, worker), trains a char tokenizer and a short GPT-2 nano
run whose context fits 1024 new tokens, then, greedy and from the same prompt:

- for 64, 256 and 1024 new tokens: ours streamed through `POST /runs/{id}/generate` (time to
  the first `token` event, and tokens per second to the `done` event) against
  `AutoModelForCausalLM.generate()` in this process on the run's export (its first-token
  latency is a call for one token), both on the same number of torch threads; and whether
  the two made the same tokens;
- tokens per second of all requests together with 1, 8 and 32 concurrent clients, each
  asking for 256 new tokens (the API's generations of one model share forward passes), and
  first, the same batching in this process with no HTTP (`Together` on a model built here).

    python bench/generation_speed.py
    python bench/generation_speed.py --threads 2 --rounds 3 --workers 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch
from pydantic import BaseModel, ConfigDict
from tokenizers import Tokenizer

from latency_common import CORPUS, load_note, wait_run, write_corpus
from model_trainer.api.schemas.runs import GeneratePublic, GenerateToken, RunQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.model import Architecture
from model_trainer.infra.inference_pool import NICE
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.tokenizers.corpus import HoldoutStrategy
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec
from model_trainer.training.inference.generation import Sampling, Together
from results import Machine
from stack import running_stack, train_char_tokenizer

LENGTHS = (64, 256, 1024)
CONCURRENCY = (1, 8, 32)
CONTEXT = 1152
PROMPT = "ROMEO:"


class Args(argparse.Namespace):
    threads: int
    rounds: int
    workers: int


def _train(base: str, tokenizer_id: str) -> str:
    config = RunConfig(
        model=ModelSpec(size="nano", max_seq_len=CONTEXT),
        data=DataSpec(
            tokenizer_id=tokenizer_id, corpus_path=CORPUS, holdout_strategy=HoldoutStrategy.TAIL
        ),
        trainer=TrainerSpec(
            max_steps=30, batch_size=2, log_interval=10, eval_steps=2, eval_samples=0
        ),
    )
    status, raw = request("POST", base + "/runs/train", config)
    if status != 202:
        raise SystemExit(f"POST /runs/train answered {status}: {raw[:300]!r}")
    run_id = RunQueued.model_validate_json(raw).run_id
    if wait_run(base, run_id, timeout_s=900) != "completed":
        raise SystemExit(f"run {run_id} did not complete")
    return run_id


def _body(new: int) -> dict[str, object]:
    return {"prompt": PROMPT, "max_new_tokens": new, "temperature": 0.0, "seed": 1}


def _streamed(client: httpx.Client, run_id: str, new: int) -> tuple[float, float, list[int]]:
    """Seconds to the first token event and to the end, and the ids."""
    start = time.perf_counter()
    first, ids, event = 0.0, [], ""
    headers = {"accept": "text/event-stream"}
    with client.stream("POST", f"/runs/{run_id}/generate", json=_body(new), headers=headers) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "token":
                if not first:
                    first = time.perf_counter() - start
                ids += GenerateToken.model_validate_json(line[5:]).ids
            elif line.startswith("data:") and event in ("done", "error"):
                if event == "error":
                    raise SystemExit(f"generation failed: {line}")
                break
    return first, time.perf_counter() - start, ids


REFERENCE = """
import json, os, sys, time, torch
from transformers import AutoModelForCausalLM
export, threads, prompt, lengths, rounds, nice = sys.argv[1:7]
os.nice(int(nice))
torch.set_num_threads(int(threads))
model = AutoModelForCausalLM.from_pretrained(export, dtype=torch.float32).eval()
ids = torch.tensor([json.loads(prompt)], dtype=torch.long)
def run(new):
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                             pad_token_id=0)
    return time.perf_counter() - start, out[0, ids.shape[1]:].tolist()
run(8)
for new in json.loads(lengths):
    for _ in range(int(rounds)):
        first, _ids = run(1)
        whole, made = run(new)
        print(json.dumps({"new": new, "first_s": first, "whole_s": whole, "ids": made}))
"""
"""`transformers`' side, in a process of its own (its `generate()` is untyped, and apart it
shares no interpreter with the HTTP clients): greedy, exactly `new` tokens, on `threads`, at
the CPU priority of the API's generation threads (`NICE`), so that on a shared machine both
sides compete for the cores alike."""


class Reference(BaseModel):
    """One `generate()` call's timings and new ids, as the child prints them."""

    model_config = ConfigDict(extra="forbid")

    new: int
    first_s: float
    whole_s: float
    ids: list[int]


def _references(export: Path, threads: int, prompt_ids: list[int], rounds: int) -> list[Reference]:
    args = [
        str(export),
        str(threads),
        json.dumps(prompt_ids),
        json.dumps(LENGTHS),
        str(rounds),
        str(NICE),
    ]
    done = subprocess.run(
        [sys.executable, "-c", REFERENCE, *args], capture_output=True, text=True, check=True
    )
    return [Reference.model_validate_json(line) for line in done.stdout.splitlines()]


def _lengths(client: httpx.Client, run_id: str, references: list[Reference], rounds: int) -> None:
    print("new tokens | first token: ours, transformers | tokens/s: ours, transformers | ratio")
    for new in LENGTHS:
        ours = [_streamed(client, run_id, new) for _ in range(rounds)]
        theirs = [r for r in references if r.new == new]
        same = all(ids == r.ids for (_, _, ids), r in zip(ours, theirs, strict=True))
        o_first = statistics.median(first for first, _, _ in ours)
        o_rate = statistics.median(new / total for _, total, _ in ours)
        t_first = statistics.median(r.first_s for r in theirs)
        t_rate = statistics.median(new / r.whole_s for r in theirs)
        print(
            f"{new} | {o_first * 1000:.1f} ms, {t_first * 1000:.1f} ms | {o_rate:.0f}, "
            f"{t_rate:.0f} | {o_rate / t_rate:.2f}x | same tokens: {same}"
        )


def _concurrent(base: str, run_id: str, clients: int) -> float:
    """Tokens per second of `clients` simultaneous requests of 256 new tokens each."""
    barrier = threading.Barrier(clients + 1)
    made: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=base, timeout=600) as client:
            barrier.wait()
            response = client.post(f"/runs/{run_id}/generate", json=_body(256))
            if response.status_code != 200:
                raise SystemExit(f"generate answered {response.status_code}: {response.text}")
            made.append(GeneratePublic.model_validate_json(response.content).count)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return sum(made) / (time.perf_counter() - start)


def _in_process(threads: int) -> None:
    """Tokens per second of `Together` stepping 1, 8 and 32 texts of 256 new tokens each
    (temperature 0.8) on a GPT-2 nano built in this process: batching without HTTP."""
    torch.set_num_threads(threads)
    arch = Architecture(
        family="gpt2",
        n_layer=4,
        n_head=4,
        n_embd=128,
        max_seq_len=CONTEXT,
        vocab_size=65,
        dropout=0.0,
    )
    model = Gpt2Backend().build(arch)
    model.module.eval()
    print("texts in one process | tokens/s")
    for count in CONCURRENCY:
        texts = [Sampling([1 + i % 5, 2, 3], 256, 0.8, None, i, CONTEXT) for i in range(count)]
        together, start = Together(model), time.perf_counter()
        with torch.no_grad():
            while not all(t.done for t in texts):
                together.step([t for t in texts if not t.done])
        print(f"{count} | {count * 256 / (time.perf_counter() - start):.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="API__INFERENCE_WORKERS")
    args = parser.parse_args(namespace=Args())
    machine = Machine.now()
    _in_process(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_corpus(work / "corpus", lines=0)
        env = {
            "API__INFERENCE_THREADS": str(args.threads),
            "API__INFERENCE_QUEUE": "64",
            "API__INFERENCE_WORKERS": str(args.workers),
        }
        with running_stack(work, work / "corpus", args.threads, env) as base:
            run_id = _train(base, train_char_tokenizer(base, CORPUS))
            export = work / "artifacts" / "models" / run_id / "export"
            prompt_ids = _prompt_ids(export)
            references = _references(export, args.threads, prompt_ids, args.rounds)
            with httpx.Client(base_url=base, timeout=600) as client:
                _streamed(client, run_id, 8)  # loads the model in the API
                _lengths(client, run_id, references, args.rounds)
            print("clients | tokens/s, all requests together")
            for clients in CONCURRENCY:
                print(f"{clients} | {_concurrent(base, run_id, clients):.0f}")
    print(f"{load_note()}; load {machine.load_start:.1f} at the start")


def _prompt_ids(export: Path) -> list[int]:
    """The prompt's ids by the export's own `tokenizer.json`."""
    ids: list[int] = Tokenizer.from_file(str(export / "tokenizer.json")).encode(PROMPT).ids
    return ids


if __name__ == "__main__":
    main()
