"""What a run and a worker show besides the run itself: the run's TensorBoard event file,
read by TensorBoard's own reader, and `GET /workers` with each live worker's job and the
samples of its machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.io_wrapper import GetLogdirSubdirectories

from model_trainer.api.schemas.runs import RunPublic, RunQueued
from model_trainer.api.schemas.workers import WorkerPublic, WorkersPublic
from model_trainer.core.settings import Settings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.run.manifest import MetricRecord

from .conftest import trained_tokenizer

pytestmark = pytest.mark.timeout(300)

SAMPLED_QUEUE = "e2e-resources"
"""The queue of the worker started here: nothing is put on it, so it takes no job."""


@pytest.fixture(scope="module")
def tokenizer(api: TestClient) -> str:
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 3}
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


def _start(api: TestClient, tokenizer_id: str, steps: int) -> str:
    body = {
        "model": {"family": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": steps,
            "batch_size": 4,
            "eval_interval": 20,
            "eval_steps": 2,
            "checkpoint_interval": 20,
            "log_interval": 5,
            "warmup_steps": 5,
        },
    }
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _run(api: TestClient, run_id: str) -> RunPublic:
    return RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)


def _wait_status(api: TestClient, run_id: str, states: set[str]) -> RunPublic:
    deadline = time.monotonic() + 180
    while (run := _run(api, run_id)).status not in states:
        assert time.monotonic() < deadline, f"run stuck in {run.status}: {run.message}"
        time.sleep(0.2)
    return run


def _float32(value: float) -> float:
    return array("f", [value])[0]


def _recorded(record: MetricRecord) -> dict[str, float | None]:
    if record.kind == "train":
        return {
            "train/loss": record.loss,
            "train/lr": record.lr,
            "train/tokens_per_s": record.tokens_per_s,
            "train/mfu": record.mfu,
        }
    return {
        "val/loss": record.val_loss,
        "val/perplexity": record.val_perplexity,
        "val/bits_per_byte": record.val_bits_per_byte,
        "eval/train_loss": record.train_loss,
    }


def _expected(metrics: Path) -> dict[str, list[tuple[int, float]]]:
    found: dict[str, list[tuple[int, float]]] = {}
    for line in metrics.read_text(encoding="utf-8").splitlines():
        record = MetricRecord.model_validate_json(line)
        for tag, value in _recorded(record).items():
            if value is not None:
                found.setdefault(tag, []).append((record.step, _float32(value)))
    return found


def test_a_run_leaves_an_event_file_tensorboard_reads(
    api: TestClient, tokenizer: str, stack_settings: Settings
) -> None:
    run_id = _start(api, tokenizer, 40)
    run = _wait_status(api, run_id, {"completed", "failed", "cancelled"})
    assert run.status == "completed", run.message
    runs = stack_settings.artifacts_root / "models"
    folder = runs / run_id
    events = [p.name for p in folder.rglob("*") if "tfevents" in p.name]
    assert events == ["events.out.tfevents.model-trainer"], events
    assert "events.out.tfevents.model-trainer" in run.artifacts  # listed, so it downloads
    # `tensorboard --logdir <root>/models` shows the run as one, named by its id
    named = {Path(d).relative_to(runs).as_posix() for d in GetLogdirSubdirectories(str(runs))}
    assert run_id in named and not any(n.startswith(f"{run_id}/") for n in named), named
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0}).Reload()
    tags = accumulator.Tags()["scalars"]
    assert isinstance(tags, list)
    scalars = {t: [(e.step, e.value) for e in accumulator.Scalars(t)] for t in tags}
    assert scalars == _expected(folder / "metrics.jsonl")
    assert [step for step, _ in scalars["val/loss"]] == [0, 20, 40]
    assert [step for step, _ in scalars["train/loss"]] == list(range(5, 41, 5))
    assert {"train/lr", "train/tokens_per_s", "val/perplexity"} <= set(scalars)


def _workers(api: TestClient) -> WorkersPublic:
    response = api.get("/workers")
    assert response.status_code == 200, response.text
    listed = WorkersPublic.model_validate_json(response.content)
    assert listed.count == len(listed.data)
    return listed


def _listed(api: TestClient, pid: int) -> WorkerPublic | None:
    return next((w for w in _workers(api).data if w.pid == pid), None)


@pytest.fixture()
def sampled_worker(stack_settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """A worker of its own that samples its machine every half second."""
    env = dict(os.environ) | {
        "REDIS_URL": stack_settings.redis_url,
        "ARTIFACTS_ROOT": str(stack_settings.artifacts_root),
        "CORPUS_ROOT": str(stack_settings.corpus_root),
        "MODELS_ROOT": str(stack_settings.models_root),
        "WORKER__QUEUE_NAME": SAMPLED_QUEUE,
        "WORKER__THREADS": "1",
        "WORKER__RESOURCE_INTERVAL_S": "0.5",
    }
    log = (stack_settings.artifacts_root.parent / "sampled-worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_trainer", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    log.close()


def _with_samples(api: TestClient, proc: subprocess.Popen[bytes], count: int) -> WorkerPublic:
    deadline = time.monotonic() + 120
    while (worker := _listed(api, proc.pid)) is None or len(worker.resources) < count:
        assert proc.poll() is None, "the sampled worker died"
        assert time.monotonic() < deadline, f"no {count} samples: {worker}"
        time.sleep(0.2)
    return worker


def test_workers_lists_a_live_worker_with_its_machine_over_time(
    api: TestClient, stack_settings: Settings, sampled_worker: subprocess.Popen[bytes]
) -> None:
    worker = _with_samples(api, sampled_worker, 3)
    assert worker.name == f"{socket.gethostname()}.{sampled_worker.pid}"
    assert worker.host == socket.gethostname() and worker.serves == ["cpu"]
    assert (worker.state, worker.current_job) == ("idle", None)
    assert worker.threads == 1 and worker.memory_bytes > 0 and worker.devices[0].kind == "cpu"
    times = [s.time for s in worker.resources]
    assert times == sorted(times) and len(set(times)) == len(times)
    for sample in worker.resources:
        assert 0.0 <= sample.cpu_percent <= 100.0, sample
        assert sample.memory_bytes > 0 and 0.0 < sample.memory_percent <= 100.0, sample
        assert sample.gpu_percent is None and sample.gpu_memory_bytes is None  # no CUDA served
    assert len(_workers(api).data) >= 2  # the suite's own worker is listed too
    # A worker that stops leaves the list, and takes its samples with it
    sampled_worker.send_signal(signal.SIGTERM)
    assert sampled_worker.wait(timeout=60) == 0
    assert _listed(api, sampled_worker.pid) is None
    store = RedisStore(stack_settings.redis_url)
    try:
        assert not store.exists(f"workers:resources:{worker.name}")
        assert not store.exists(f"workers:activity:{worker.name}")
    finally:
        store.close()


def _doing(api: TestClient, job: str | None, after: WorkerPublic | None = None) -> WorkerPublic:
    """The worker running `job` (or, with `job` None, `after` once it runs nothing)."""
    deadline = time.monotonic() + 120
    while True:
        for worker in _workers(api).data:
            if job is not None and worker.current_job == job:
                return worker
            if after is not None and worker.name == after.name and worker.current_job is None:
                return worker
        assert time.monotonic() < deadline, f"no worker shows {job or 'an end'}"
        time.sleep(0.2)


def test_a_busy_worker_names_its_job_until_it_ends(api: TestClient, tokenizer: str) -> None:
    run_id = _start(api, tokenizer, 100_000)
    busy = _doing(api, run_id)
    assert busy.state == "busy" and busy.since is not None
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    assert _wait_status(api, run_id, {"cancelled", "completed", "failed"}).status == "cancelled"
    idle = _doing(api, None, after=busy)
    assert idle.state == "idle" and idle.since is not None and idle.since >= busy.since
