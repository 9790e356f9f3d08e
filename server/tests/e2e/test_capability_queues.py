"""Queues by worker capability on the real stack: a CUDA run that no worker serves waits, says
why, and is never taken by a CPU worker; a worker told to serve CUDA on a machine without a
GPU refuses to start; a job delivered again (warm stop, lost worker) goes back to its queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_trainer.api.schemas.common import Health
from model_trainer.api.schemas.runs import RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.queue import Capability
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.core.job_status import JobStatus
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.machine import cuda_devices
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX, RqJobQueue
from model_trainer.infra.workers import DeviceCapacity, WorkerCapacity, WorkerDirectory
from model_trainer.jobs.lifecycle import JobLifecycle
from model_trainer.jobs.recovery import JobReconciler
from model_trainer.jobs.stopping import StopRequest
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec

from .conftest import story
from .processes import ProcessStack
from .test_lifecycle import WORKER, Body, Note, NoteKind

pytestmark = pytest.mark.timeout(300)

WAITING_FOR_CUDA = "waiting for a worker that serves cuda; none is running"


def _tokenizer(stack: ProcessStack) -> str:
    """A char tokenizer, trained by the stack's CPU worker (up to two minutes)."""
    body = TokenizerCreate(
        method=TokenizerMethod.CHAR, vocab_size=100, min_frequency=1, corpus_path="story.txt"
    )
    status, raw = request("POST", stack.base + "/tokenizers/train", body)
    assert status == 202, raw
    tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
    done = stack.wait_tokenizer(tokenizer_id, {"completed", "failed"}, timeout_s=120)
    assert done.status == "completed", done.message
    return tokenizer_id


@pytest.fixture(scope="module")
def cpu_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessStack, str]]:
    """Redis, the API and one worker that serves `cpu` only, with a trained tokenizer."""
    work = tmp_path_factory.mktemp("capabilities")
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(600, 7), encoding="utf-8")
    stack = ProcessStack(work, work / "artifacts", corpus)
    stack.env["WORKER__QUEUES"] = "cpu"
    try:
        for name in ("redis", "api", "worker-cpu"):
            stack.start(name)
        stack.wait_ready()  # Redis answers and the worker heartbeats
        yield stack, _tokenizer(stack)
    finally:
        stack.stop_all()


def _ready(stack: ProcessStack, timeout_s: float = 60) -> Health:
    """`/readyz` once it lists a live worker's capabilities (published every heartbeat)."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, raw = request("GET", stack.base + "/readyz")
        health = Health.model_validate_json(raw) if status == 200 else None
        if health is not None and health.live_workers:
            return health
        assert time.monotonic() < deadline, f"no worker said what it serves: {raw!r}"
        time.sleep(0.2)


def test_readiness_counts_workers_by_capability(cpu_stack: tuple[ProcessStack, str]) -> None:
    stack, _ = cpu_stack
    health = _ready(stack)
    assert health.capabilities is not None and health.live_workers is not None
    assert (health.capabilities.cpu, health.capabilities.cuda) == (1, 0)
    (worker,) = health.live_workers
    assert worker.serves == ["cpu"] and "cpu" in worker.devices


def test_a_cuda_run_waits_for_a_cuda_worker_and_says_so(
    cpu_stack: tuple[ProcessStack, str],
) -> None:
    stack, tokenizer_id = cpu_stack
    config = RunConfig(
        model=ModelSpec(size="nano", n_layer=1, n_head=2, n_embd=32, max_seq_len=16),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="story.txt"),
        trainer=TrainerSpec(max_steps=5, batch_size=2, device="cuda"),
    )
    status, raw = request("POST", stack.base + "/runs/train", config)
    assert status == 202, raw
    run_id = RunQueued.model_validate_json(raw).run_id
    try:
        # A CPU job queued after the run, done: had the run been on the CPU queue, the one
        # worker (first in, first out) would have taken it first.
        _tokenizer(stack)
        run = stack.run(run_id)
        assert run is not None and run.status == "queued", run
        assert run.message == WAITING_FOR_CUDA and run.started_at is None
    finally:
        assert request("POST", f"{stack.base}/runs/{run_id}/cancel")[0] == 200
    cancelled = stack.wait_run(run_id, {"cancelled"}, timeout_s=60)
    assert cancelled.message != WAITING_FOR_CUDA  # an ended run waits for nothing


def test_cpu_work_says_so_when_every_live_worker_serves_cuda_alone(
    cpu_stack: tuple[ProcessStack, str],
) -> None:
    """Workers started with `WORKER__QUEUES=cuda` only: a CPU run would wait for nobody
    without a word, since `/readyz` is happy with any live worker. The last test to use the
    module's stack: it stops the CPU worker."""
    stack, tokenizer_id = cpu_stack
    stack.signal("worker-cpu", signal.SIGTERM)
    assert stack.wait_exit("worker-cpu", 60) == 0
    redis = RedisStore(stack.env["REDIS_URL"])
    gpu_host = WorkerCapacity(
        name="gpu-host.1",
        memory_bytes=1 << 34,
        threads=8,
        devices=[DeviceCapacity(kind="cuda", name="gpu", memory_bytes=1 << 34)],
        serves=["cuda"],
    )
    config = RunConfig(
        model=ModelSpec(size="nano", n_layer=1, n_head=2, n_embd=32, max_seq_len=16),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="story.txt"),
        trainer=TrainerSpec(max_steps=5, batch_size=2, device="cpu"),
    )
    try:
        deadline = time.monotonic() + 60
        run_id = ""
        while True:  # the stopped worker's heartbeat lapses within its TTL
            WorkerDirectory(redis, 30).publish(gpu_host)
            redis.index_add(WORKERS_ALIVE_INDEX, gpu_host.name, time.time())
            if not run_id:
                status, raw = request("POST", stack.base + "/runs/train", config)
                assert status == 202, raw
                run_id = RunQueued.model_validate_json(raw).run_id
            run = stack.run(run_id)
            assert run is not None
            if run.message == "waiting for a worker that serves cpu; none is running":
                break
            assert time.monotonic() < deadline, run.message
            time.sleep(0.3)
        assert run.status == "queued"
    finally:
        redis.close()


def test_a_worker_told_to_serve_cuda_without_a_gpu_refuses_to_start(tmp_path: Path) -> None:
    if cuda_devices():
        pytest.skip("this machine has a GPU: a CUDA worker may start here")
    env = dict(os.environ) | {
        "WORKER__QUEUES": "cpu,cuda",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: it refuses before connecting
        "ARTIFACTS_ROOT": str(tmp_path / "artifacts"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "model_trainer", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "worker_refused_to_start" in done.stderr  # the structured log line
    assert "DEVICE_UNAVAILABLE: WORKER__QUEUES asks this worker to serve cuda" in done.stderr


def _on_gpu(note: Note) -> Capability:
    """The notes' route: an id that says so needs a GPU."""
    return "cuda" if note.note_id.startswith("gpu-") else "cpu"


@pytest.fixture()
def queues(redis_url: str) -> Iterator[tuple[JobStateStore, RqJobQueue]]:
    """Job state and an RQ queue pair no worker takes from, both of this test's own."""
    store = RedisStore(redis_url)
    name = f"capability-{uuid.uuid4().hex[:8]}"
    yield JobStateStore(store, name), RqJobQueue(store, name, worker_ttl_s=5.0)
    store.close()


def _note(kind: NoteKind, state: JobStateStore, prefix: str) -> str:
    job_id = f"{prefix}-{time.time_ns()}"
    kind.write(Note(note_id=job_id, status=JobStatus.QUEUED, created_at=utc_now()))
    state.create(job_id, time.time())
    return job_id


def test_a_warm_stop_delivers_the_job_back_to_its_queue(
    tmp_path: Path, queues: tuple[JobStateStore, RqJobQueue]
) -> None:
    state, queue = queues
    kind, stop = NoteKind(tmp_path, state), StopRequest()
    stop.request("SIGTERM")
    lifecycle = JobLifecycle(kind, Body(iter([])), WORKER, queue, stop, route=_on_gpu)
    assert lifecycle.run(_note(kind, state, "gpu")).status is JobStatus.QUEUED
    assert (queue.waiting_for("cuda"), queue.waiting_for("cpu")) == (1, 0)
    assert lifecycle.run(_note(kind, state, "cpu")).status is JobStatus.QUEUED
    assert (queue.waiting_for("cuda"), queue.waiting_for("cpu")) == (1, 1)


def test_a_job_whose_worker_died_goes_back_to_its_queue(
    tmp_path: Path, queues: tuple[JobStateStore, RqJobQueue]
) -> None:
    state, queue = queues
    kind = NoteKind(tmp_path, state)
    reconciler = JobReconciler(kind, WORKER, queue, route=_on_gpu)
    gpu, cpu = _note(kind, state, "gpu"), _note(kind, state, "cpu")
    for job_id in (gpu, cpu):
        state.set_status(job_id, JobStatus.RUNNING, "training")  # no heartbeat: its worker died
    assert sorted(reconciler.reconcile()) == sorted([gpu, cpu])
    assert (queue.waiting_for("cuda"), queue.waiting_for("cpu")) == (1, 1)
