"""A run trained by two processes (`trainer.nproc`, torch.distributed over gloo) through the
API and a real worker: the same weights as one process given the same global batch, and a
rank killed mid-run resumed from the last checkpoint to the same weights."""

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
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import MetricsPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.services import build_registry

from .processes import children
from .test_recovery import _wait

pytestmark = pytest.mark.timeout(900)

QUEUE = "ranks"
WEIGHT_TOLERANCE = 1e-5
"""Two ranks sum their gradients in another order than one process does: float rounding
apart, the weights are the same."""
KEY_BIAS_TOLERANCE = 1e-3
"""GPT-2's key biases get no gradient in exact arithmetic (softmax ignores a constant added to
all of a query's scores): what they get is rounding, which Adam scales up to steps of the
learning rate's size, so they alone wander apart by more."""


@pytest.fixture(scope="module")
def ranks_settings(stack_settings: Settings) -> Settings:
    return Settings(
        redis_url=stack_settings.redis_url,
        artifacts_root=stack_settings.artifacts_root,
        corpus_root=stack_settings.corpus_root,
        worker=WorkerSettings(queue_name=QUEUE, threads=2, retry_backoff_s=0.5),
    )


@pytest.fixture(scope="module")
def worker(ranks_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    proc = _start_worker(ranks_settings, tmp_path_factory.mktemp("ranks") / "worker.log")
    try:
        yield proc.pid
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def _start_worker(ranks_settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ) | {
        "REDIS_URL": ranks_settings.redis_url,
        "ARTIFACTS_ROOT": str(ranks_settings.artifacts_root),
        "CORPUS_ROOT": str(ranks_settings.corpus_root),
        "WORKER__QUEUE_NAME": QUEUE,
        "WORKER__THREADS": "2",
        "WORKER__RETRY_BACKOFF_S": "0.5",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "model_trainer", "worker"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def client(ranks_settings: Settings, worker: int) -> Iterator[TestClient]:
    registry = build_registry(ranks_settings)
    with TestClient(create_app(registry), base_url="http://localhost") as api:
        yield api
    registry.close()


@pytest.fixture(scope="module")
def tokenizer(client: TestClient) -> str:
    body = {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": "story.txt"}
    tok = TokenizerQueued.model_validate_json(client.post("/tokenizers/train", json=body).content)
    deadline = time.monotonic() + 300
    while (
        TokenizerPublic.model_validate_json(client.get(f"/tokenizers/{tok.tokenizer_id}").content)
    ).status != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return tok.tokenizer_id


def _body(tokenizer_id: str, nproc: int, max_steps: int) -> dict[str, object]:
    return {
        "model": {"size": "nano", "n_layer": 2, "n_head": 2, "n_embd": 64, "max_seq_len": 32},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": max_steps,
            "batch_size": 8,
            "grad_accum_steps": 2,
            "eval_interval": 100,
            "eval_steps": 2,
            "checkpoint_interval": 20,
            "log_interval": 10,
            "seed": 5,
            "precision": "fp32",
            "nproc": nproc,
        },
    }


def _train(api: TestClient, body: dict[str, object]) -> str:
    return RunQueued.model_validate_json(api.post("/runs/train", json=body).content).run_id


def _weights(settings: Settings, run_id: str) -> dict[str, torch.Tensor]:
    return load_file(
        str(settings.artifacts_root / "models" / run_id / "export" / "model.safetensors")
    )


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        x, y = a[name], b[name]
        if name.endswith("attn.c_attn.bias"):  # query, key, value biases side by side
            q, k, v = x.chunk(3)
            q2, k2, v2 = y.chunk(3)
            assert torch.allclose(k, k2, atol=KEY_BIAS_TOLERANCE), name
            x, y = torch.cat([q, v]), torch.cat([q2, v2])
        assert torch.allclose(x, y, atol=WEIGHT_TOLERANCE), name


MAX_STEPS = 200


@pytest.fixture(scope="module")
def two_process_run(client: TestClient, tokenizer: str) -> str:
    run_id = _train(client, _body(tokenizer, 2, MAX_STEPS))
    final = _wait(client, run_id, {"completed", "failed"})
    assert final.status == "completed", final.message
    return run_id


def test_two_processes_reach_the_weights_of_one(
    client: TestClient, ranks_settings: Settings, tokenizer: str, two_process_run: str
) -> None:
    one = _train(client, _body(tokenizer, 1, MAX_STEPS))
    assert _wait(client, one, {"completed", "failed"}).status == "completed"
    _same(_weights(ranks_settings, one), _weights(ranks_settings, two_process_run))
    metrics = MetricsPublic.model_validate_json(
        client.get(f"/runs/{two_process_run}/metrics").content
    )
    evals = [m.val_loss for m in metrics.data if m.kind == "eval" and m.val_loss is not None]
    assert len(evals) == 3 and evals[-1] < evals[0]  # steps 0, 100, 200: the loss falls
    steps = [m.step for m in metrics.data if m.kind == "train"]
    assert steps == list(range(10, MAX_STEPS + 1, 10))  # rank 0 alone reports


def _rank(worker: int, rank: int) -> int:
    """The pid of one rank of the run the worker trains: its horse's launcher's child."""
    for horse in children(worker):
        for launcher in children(horse):
            for pid in children(launcher):
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                if f"RANK={rank}".encode() in environ:
                    return pid
    raise AssertionError(f"no rank {rank} under worker {worker}")


def test_a_killed_rank_resumes_from_the_last_checkpoint(
    client: TestClient, ranks_settings: Settings, tokenizer: str, worker: int, two_process_run: str
) -> None:
    run_id = _train(client, _body(tokenizer, 2, MAX_STEPS))
    _wait(client, run_id, {"completed", "failed"}, at_step=90)
    os.kill(_rank(worker, 1), signal.SIGKILL)
    final = _wait(client, run_id, {"completed", "failed"})
    assert final.status == "completed", final.message
    _same(_weights(ranks_settings, two_process_run), _weights(ranks_settings, run_id))
    folder = ranks_settings.artifacts_root / "models" / run_id
    log = (folder / "logs.jsonl").read_text("utf-8")
    assert "run_retrying" in log and "a process of the run failed" in log
    assert "rank 1: ended without a word (killed?)" in log  # rank 0 names the broken link
    assert log.count("run_resuming") == 1


def _processes_of(run_id: str) -> list[int]:
    """Processes whose command line names the run (its ranks name their plan's path)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if run_id.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _gone(run_id: str) -> bool:
    deadline = time.monotonic() + 30
    while _processes_of(run_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_cancelled_run_stops_every_rank_at_one_step(client: TestClient, tokenizer: str) -> None:
    run_id = _train(client, _body(tokenizer, 2, 100_000))
    _wait(client, run_id, {"completed", "failed"}, at_step=30)
    assert client.post(f"/runs/{run_id}/cancel").status_code == 200
    final = _wait(client, run_id, {"cancelled", "failed"})
    assert final.status == "cancelled", final.message
    assert "checkpoint saved" in (final.message or "")
    assert _gone(run_id), _processes_of(run_id)


def test_a_batch_that_does_not_split_over_the_processes_is_refused(
    client: TestClient, tokenizer: str
) -> None:
    body = _body(tokenizer, 2, 10)
    trainer = body["trainer"]
    assert isinstance(trainer, dict)
    for bad, words in (
        ({"batch_size": 9}, "batch_size 9 does not split over nproc 2"),
        ({"nproc": 0}, "trainer.nproc"),
        ({"nproc": 65}, "trainer.nproc"),
        ({"nproc": 1.5}, "trainer.nproc"),
    ):
        answer = client.post("/runs/train", json=body | {"trainer": trainer | bad})
        assert answer.status_code == 422, answer.text
        error = ErrorBody.model_validate_json(answer.content)
        assert error.code == "CONFIG_INVALID" and words in error.message, error
        assert error.request_id


def test_a_warm_stop_reaches_every_rank_and_the_run_resumes_elsewhere(
    client: TestClient,
    ranks_settings: Settings,
    tokenizer: str,
    worker: int,
    two_process_run: str,
    tmp_path: Path,
) -> None:
    """SIGTERM to the worker alone (as a service manager sends it): the ranks stop at one
    step with the checkpoint saved, the run is queued again, and another worker finishes it
    with the weights of an uninterrupted run. Last here: it stops the module's worker."""
    run_id = _train(client, _body(tokenizer, 2, MAX_STEPS))
    _wait(client, run_id, {"completed", "failed"}, at_step=70)
    os.kill(worker, signal.SIGTERM)
    queued = _wait(client, run_id, {"queued", "completed", "failed"})
    assert queued.status == "queued", queued.message
    assert _gone(run_id), _processes_of(run_id)
    second = _start_worker(ranks_settings, tmp_path / "second.log")
    try:
        final = _wait(client, run_id, {"completed", "failed"})
    finally:
        _stop(second)
    assert final.status == "completed", final.message
    _same(_weights(ranks_settings, two_process_run), _weights(ranks_settings, run_id))
