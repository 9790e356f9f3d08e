"""A worker killed mid-run: another picks the run up from its checkpoint and finishes it with
the same weights an uninterrupted run reaches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from safetensors.torch import load_file

from model_trainer.api.app import create_app
from model_trainer.api.schemas.runs import (
    EvalPublic,
    EvalQueued,
    GeneratePublic,
    MetricsPublic,
    RunPublic,
    RunQueued,
)
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.json_types import JsonObject
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.services import build_registry

from .conftest import story
from .processes import children

pytestmark = pytest.mark.timeout(900)

RECORD: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)

FAST = {
    "WORKER__HEARTBEAT_INTERVAL_S": "0.5",
    "WORKER__HEARTBEAT_TTL_S": "3",
    "WORKER__RECONCILE_INTERVAL_S": "1",
}


def _worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = (
        dict(os.environ)
        | FAST
        | {
            "REDIS_URL": settings.redis_url,
            "ARTIFACTS_ROOT": str(settings.artifacts_root),
            "CORPUS_ROOT": str(settings.corpus_root),
            "WORKER__QUEUE_NAME": settings.worker.queue_name,
            "WORKER__THREADS": "2",
        }
    )
    return subprocess.Popen(
        [sys.executable, "-m", "model_trainer", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        for child in children(proc.pid) if sig == signal.SIGKILL else []:
            os.kill(child, sig)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


@pytest.fixture()
def crash_settings(stack_settings: Settings) -> Settings:
    return Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(
            queue_name="crash", threads=2, heartbeat_ttl_s=3.0, heartbeat_interval_s=0.5
        ),
    )


@pytest.fixture()
def client(crash_settings: Settings) -> Iterator[TestClient]:
    registry = build_registry(crash_settings)
    with TestClient(create_app(registry), base_url="http://localhost") as api:
        yield api
    registry.close()


def _wait(api: TestClient, run_id: str, done: set[str], at_step: int = 0) -> RunPublic:
    deadline = time.monotonic() + 600
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in done or (at_step and run.progress.step >= at_step):
            return run
        assert time.monotonic() < deadline, f"{run.status}: {run.message}"
        time.sleep(0.1)


FAMILIES: dict[str, dict[str, object]] = {
    "gpt2": {"n_head": 2},
    # 4 query heads over the size's 2 key/value heads: grouped attention, rotary positions
    "llama": {"n_head": 4},
    "qwen2": {"n_head": 4},
}
"""The built-in families, each killed mid-run and resumed, with the heads each is given."""
HF_CLASS = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}
NEW_TOKENS = 12
GREEDY = (
    "import json, sys\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
    "m = AutoModelForCausalLM.from_pretrained(sys.argv[1], local_files_only=True)\n"
    "t = AutoTokenizer.from_pretrained(sys.argv[1], local_files_only=True)\n"
    "ids = t(sys.argv[2], add_special_tokens=False, return_tensors='pt').input_ids\n"
    "out = m.generate(ids, max_new_tokens=int(sys.argv[3]), do_sample=False)\n"
    "print(json.dumps({'model': type(m).__name__, 'new': out[0, ids.shape[1]:].tolist(),\n"
    "                  'eos': m.generation_config.eos_token_id}))\n"
)
"""A fresh interpreter's greedy continuation of the export, with transformers alone."""


class Greedy(BaseModel):
    """What the child process printed."""

    model: str
    new: list[int]
    eos: int | list[int] | None


def _same_greedy_tokens(api: TestClient, run_id: str, export: Path, family: str) -> None:
    """The service's greedy tokens (temperature 0) are what transformers generates from the
    export in another process (which stops early only at an end of text)."""
    body = {"prompt": "The king", "max_new_tokens": NEW_TOKENS, "temperature": 0}
    served = GeneratePublic.model_validate_json(
        api.post(f"/runs/{run_id}/generate", json=body).content
    )
    done = subprocess.run(
        [sys.executable, "-c", GREEDY, str(export), "The king", str(NEW_TOKENS)],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-800:]
    child = Greedy.model_validate_json(done.stdout.strip().splitlines()[-1])
    assert child.model == HF_CLASS[family]
    assert served.count == NEW_TOKENS and child.new == served.ids[: len(child.new)]
    eos = child.eos if isinstance(child.eos, list) else [child.eos]
    assert len(child.new) == NEW_TOKENS or child.new[-1] in eos, (child, served.ids)


def _lora_finetune(api: TestClient, run: dict[str, object]) -> dict[str, object]:
    """`run` as a LoRA fine-tune of a base trained briefly with the same shape: its
    checkpoints hold only the adapters and their optimizer state, and a resumed start
    rebuilds the base from the base run's export."""
    trainer = run["trainer"]
    assert isinstance(trainer, dict)
    base = run | {"trainer": trainer | {"max_steps": 100, "eval_interval": 100}}
    base_id = RunQueued.model_validate_json(api.post("/runs/train", json=base).content).run_id
    assert _wait(api, base_id, {"completed", "failed"}).status == "completed"
    return {
        "model": {"init_from": {"run_id": base_id}},
        "data": {"corpus_path": "story.txt"},
        "trainer": trainer | {"max_steps": 600},
        "finetune": {"method": "lora", "rank": 4},
    }


@pytest.mark.parametrize(("family", "method"), [*((f, "full") for f in FAMILIES), ("gpt2", "lora")])
def test_killed_worker_run_resumes_with_identical_weights(
    client: TestClient, crash_settings: Settings, tmp_path: Path, family: str, method: str
) -> None:
    first = _worker(crash_settings, tmp_path / "worker-a.log")
    try:
        body: dict[str, object] = {
            "method": "char",
            "vocab_size": 100,
            "min_frequency": 1,
            "corpus_path": "story.txt",
        }
        tok = TokenizerQueued.model_validate_json(
            client.post("/tokenizers/train", json=body).content
        ).tokenizer_id
        while (
            TokenizerPublic.model_validate_json(client.get(f"/tokenizers/{tok}").content).status
            != "completed"
        ):
            time.sleep(0.2)
        run: dict[str, object] = {
            "model": {
                "family": family,
                "size": "nano",
                "n_layer": 2,
                "n_embd": 64,
                "max_seq_len": 32,
            }
            | FAMILIES[family],
            "data": {"tokenizer_id": tok, "corpus_path": "story.txt"},
            "trainer": {
                "max_steps": 1500,
                "batch_size": 8,
                "eval_interval": 500,
                "eval_steps": 2,
                "checkpoint_interval": 50,
                "log_interval": 10,
                "seed": 11,
                # Both runs must compute alike: `auto` times each precision, and on a busy
                # machine with native bf16 the two runs could choose differently.
                "precision": "fp32",
            },
        }
        if method == "lora":
            run = _lora_finetune(client, run)
        whole = RunQueued.model_validate_json(client.post("/runs/train", json=run).content).run_id
        assert _wait(client, whole, {"completed", "failed"}).status == "completed"

        broken = RunQueued.model_validate_json(client.post("/runs/train", json=run).content).run_id
        _wait(client, broken, {"completed", "failed"}, at_step=300)
        _stop(first, signal.SIGKILL)  # parent and work horse, no warning
        killed_at = time.monotonic()
        assert _wait(client, broken, {"stalled", "completed"}).status == "stalled"
        second = _worker(crash_settings, tmp_path / "worker-b.log")
        try:
            resumed = _wait(client, broken, {"running", "completed", "failed"})
            resume_s = time.monotonic() - killed_at
            final = _wait(client, broken, {"completed", "failed"})
        finally:
            _stop(second)
    finally:
        _stop(first)
    assert final.status == "completed", final.message
    assert resumed.status in ("running", "completed") and resume_s < 60
    root = crash_settings.artifacts_root / "models"
    a = load_file(str(root / whole / "export" / "model.safetensors"))
    b = load_file(str(root / broken / "export" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-5), name
    metrics = MetricsPublic.model_validate_json(client.get(f"/runs/{broken}/metrics").content)
    steps = [m.step for m in metrics.data if m.kind == "train"]
    last = final.progress.max_steps  # 1500; a LoRA fine-tune 600
    assert steps == sorted(set(steps)) and steps[-1] == last
    evals = [m.step for m in metrics.data if m.kind == "eval"]
    expected: list[int] = [*range(0, last, 500), last]
    assert evals == expected
    _same_greedy_tokens(client, broken, root / broken / "export", family)
    if method == "lora":  # its checkpoint holds the adapters and their moments alone: a
        # whole one holds the weights and two moments, three times the exported weights
        checkpoint = (root / broken / "checkpoints" / "last.pt").stat().st_size
        assert checkpoint < (root / broken / "export" / "model.safetensors").stat().st_size / 2


def _eval(api: TestClient, run_id: str, done: set[str]) -> EvalPublic:
    deadline = time.monotonic() + 600
    while True:
        result = EvalPublic.model_validate_json(api.get(f"/runs/{run_id}/eval").content)
        if result.status in done:
            return result
        assert time.monotonic() < deadline, f"{result.status}: {result.message}"
        time.sleep(0.05)


def _finished_run(api: TestClient) -> str:
    body: dict[str, object] = {
        "method": "char",
        "vocab_size": 100,
        "min_frequency": 1,
        "corpus_path": "story.txt",
    }
    tok = TokenizerQueued.model_validate_json(api.post("/tokenizers/train", json=body).content)
    while (
        TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tok.tokenizer_id}").content)
    ).status != "completed":
        time.sleep(0.2)
    run: dict[str, object] = {
        "model": {"size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tok.tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {"max_steps": 10, "batch_size": 4, "eval_interval": 10, "eval_steps": 1},
    }
    run_id = RunQueued.model_validate_json(api.post("/runs/train", json=run).content).run_id
    assert _wait(api, run_id, {"completed", "failed"}).status == "completed"
    return run_id


def test_killed_worker_evaluation_is_started_again_and_completes(
    client: TestClient, crash_settings: Settings, tmp_path: Path
) -> None:
    # A corpus big enough that encoding it keeps the evaluation running for seconds
    (crash_settings.corpus_root / "long-eval.txt").write_text(story(600_000, 3), encoding="utf-8")
    first = _worker(crash_settings, tmp_path / "worker-a.log")
    try:
        run_id = _finished_run(client)
        body: dict[str, str] = {"corpus_path": "long-eval.txt"}
        queued = client.post(f"/runs/{run_id}/evaluate", json=body)
        eval_id = EvalQueued.model_validate_json(queued.content).eval_id
        assert _eval(client, run_id, {"running", "completed", "failed"}).status == "running"
        time.sleep(0.5)
        _stop(first, signal.SIGKILL)  # parent and work horse, mid-evaluation
        stalled = _eval(client, run_id, {"stalled", "completed", "failed"})
        assert stalled.status == "stalled", stalled
        second = _worker(crash_settings, tmp_path / "worker-b.log")
        try:
            final = _eval(client, run_id, {"completed", "failed"})
        finally:
            _stop(second)
    finally:
        _stop(first)
    assert final.status == "completed" and final.eval_id == eval_id, final
    assert final.metrics is not None and final.metrics.corpus_path == "long-eval.txt"
    log = (crash_settings.artifacts_root / "models" / run_id / "logs.jsonl").read_text("utf-8")
    records = [RECORD.validate_json(line) for line in log.splitlines() if line]
    starts = [r.get("attempt") for r in records if r.get("event") == "evaluation_job_started"]
    assert starts == [1, 2]  # the killed start, then the one that completed
