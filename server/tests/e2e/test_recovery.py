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
from safetensors.torch import load_file

from model_trainer.api.app import create_app
from model_trainer.api.schemas.runs import MetricsPublic, RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.services import build_registry

from .processes import children

pytestmark = pytest.mark.timeout(900)

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


def test_killed_worker_run_resumes_with_identical_weights(
    client: TestClient, crash_settings: Settings, tmp_path: Path
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
            "model": {"size": "nano", "n_layer": 2, "n_head": 2, "n_embd": 64, "max_seq_len": 32},
            "data": {"tokenizer_id": tok, "corpus_path": "story.txt"},
            "trainer": {
                "max_steps": 1500,
                "batch_size": 8,
                "eval_interval": 500,
                "eval_steps": 2,
                "checkpoint_interval": 50,
                "log_interval": 10,
                "seed": 11,
            },
        }
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
    assert steps == sorted(set(steps)) and steps[-1] == 1500
    evals = [m.step for m in metrics.data if m.kind == "eval"]
    assert evals == [0, 500, 1000, 1500]
