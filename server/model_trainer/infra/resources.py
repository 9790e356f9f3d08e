"""Each worker's machine over time (CPU, memory, GPU use) and what the worker is doing.

A thread of the worker process samples its machine every `WORKER__RESOURCE_INTERVAL_S` and
appends the sample to `workers:resources:<name>`: a list capped at an hour of samples whose
TTL is renewed at each append, so a dead worker's samples expire on their own. Beside it,
`workers:activity:<name>` says whether the worker is idle, busy with a job (which) or
stopping; rewritten at each sample and as soon as it changes. The API reads both for
`GET /workers`.

The thread runs only in the worker process: a work horse is forked from it, and a fork
copies no thread. GPUs are asked of `nvidia-smi`, as `infra/machine.py` does: CUDA touched
through torch in the worker would leave the horses it forks unable to use it.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import threading
import time
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log
from model_trainer.infra.redis_store import RedisStore

RESOURCE_WINDOW_S = 3600.0
"""How far back a worker's samples are kept (and shown)."""
GPU_QUERY_TIMEOUT_S = 5.0
"""How long a sample waits for `nvidia-smi` before it goes without GPU figures."""

WorkerState = Literal["idle", "busy", "stopping"]

_log = Log("worker")


class ResourceSample(BaseModel):
    """One look at a worker's machine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: float
    """When, in Unix seconds."""
    cpu_percent: float
    """The machine's CPU use since the previous sample, all cores together (0 to 100)."""
    memory_bytes: int
    """Memory in use (what is not available to new processes)."""
    memory_percent: float
    gpu_percent: float | None = None
    """The first GPU's utilisation; null without a GPU (or when `nvidia-smi` did not say)."""
    gpu_memory_bytes: int | None = None
    """Memory in use on the first GPU, by every process on it."""


class WorkerActivity(BaseModel):
    """What a worker is doing, as it last said."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    pid: int
    state: WorkerState
    current_job: str | None = None
    """The id of the run, tokenizer or evaluation it is running."""
    since: float
    """When it entered this state, in Unix seconds."""


def _gpu_usage() -> tuple[float | None, int | None]:
    """The first GPU's utilisation (%) and memory in use (bytes), as `nvidia-smi` says."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None, None
    query = [smi, "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(
            query, capture_output=True, text=True, timeout=GPU_QUERY_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    first = out.stdout.splitlines()[0] if out.stdout.strip() else ""
    percent, _, mib = (part.strip() for part in first.partition(","))
    return _number(percent), _mib_bytes(mib)


def _number(text: str) -> float | None:
    try:
        return float(text)  # "[N/A]" where the driver cannot tell
    except ValueError:
        return None


def _mib_bytes(text: str) -> int | None:
    value = _number(text)
    return int(value * 1024**2) if value is not None else None


def sample_machine(gpu: bool) -> ResourceSample:
    """This machine now; CPU use is over the span since the previous call in this process."""
    memory = psutil.virtual_memory()
    gpu_percent, gpu_memory = _gpu_usage() if gpu else (None, None)
    return ResourceSample(
        time=time.time(),
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_bytes=memory.total - memory.available,
        memory_percent=memory.percent,
        gpu_percent=gpu_percent,
        gpu_memory_bytes=gpu_memory,
    )


def _resources_key(name: str) -> str:
    return f"workers:resources:{name}"


def _activity_key(name: str) -> str:
    return f"workers:activity:{name}"


class WorkerRecord(BaseModel):
    """What `ResourceHistory.read` found of one worker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    activity: WorkerActivity | None
    """None for a worker that has not said yet (just started, or from an older version)."""
    resources: list[ResourceSample]


class ResourceHistory:
    """Workers' samples and activities in Redis: written by each worker, read by the API."""

    def __init__(self, store: RedisStore, interval_s: float = 10.0) -> None:
        self._store = store
        self._keep = max(1, math.ceil(RESOURCE_WINDOW_S / interval_s))

    def record(self, name: str, sample: ResourceSample) -> None:
        key = _resources_key(name)
        self._store.list_push_capped(key, sample.model_dump_json(), self._keep, RESOURCE_WINDOW_S)

    def set_activity(self, name: str, activity: WorkerActivity) -> None:
        self._store.set(_activity_key(name), activity.model_dump_json(), RESOURCE_WINDOW_S)

    def forget(self, name: str) -> None:
        """A worker that stops leaves nothing behind (a dead one's keys expire instead)."""
        self._store.delete(_resources_key(name), _activity_key(name))

    def read(self, names: list[str]) -> list[WorkerRecord]:
        """Each worker's activity and its samples of the last hour, oldest first."""
        activities = self._store.mget([_activity_key(n) for n in names])
        samples = self._store.lists([_resources_key(n) for n in names])
        since = time.time() - RESOURCE_WINDOW_S
        found: list[WorkerRecord] = []
        for name, raw, lines in zip(names, activities, samples, strict=True):
            resources = [s for s in map(_sample, lines) if s is not None and s.time >= since]
            found.append(WorkerRecord(activity=_activity(name, raw), resources=resources))
        return found


def _sample(line: str) -> ResourceSample | None:
    try:
        return ResourceSample.model_validate_json(line)
    except ValidationError:
        return None  # written by another version; the others still show


def _activity(name: str, raw: str | None) -> WorkerActivity | None:
    if raw is None:
        return None
    try:
        return WorkerActivity.model_validate_json(raw)
    except ValidationError:
        _log.warning("worker_activity_unreadable", worker=name)
        return None


class ActivityTracker:
    """The worker's own note of what it is doing; `changed` wakes the sampler to say so."""

    def __init__(self) -> None:
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._job: str | None = None
        self._stopped_at: float | None = None
        self._since = time.time()
        self._lock = threading.Lock()
        self.changed = threading.Event()

    def _set(self, job: str | None) -> None:
        with self._lock:
            self._job = job
            self._since = time.time()
        self.changed.set()

    def job_started(self, job_id: str) -> None:
        self._set(job_id)

    def job_ended(self) -> None:
        self._set(None)

    def stopping(self) -> None:
        """It was asked to stop: it takes no more jobs, and finishes (or hands back) its own.
        Called from a signal handler, which may interrupt this very thread inside `_set`:
        it takes no lock (nor `changed`'s), and the next sample says it."""
        if self._stopped_at is None:
            self._stopped_at = time.time()

    def snapshot(self) -> WorkerActivity:
        with self._lock:
            job, since = self._job, self._since
        stopped_at = self._stopped_at  # a stopping worker stays so, whatever it ends meanwhile
        if stopped_at is not None:
            state: WorkerState = "stopping"
            since = stopped_at
        else:
            state = "busy" if job is not None else "idle"
        return WorkerActivity(
            host=self._host, pid=self._pid, state=state, current_job=job, since=since
        )


class ResourceSampler:
    """The worker's sampling thread, for as long as the `with` block runs."""

    def __init__(
        self,
        history: ResourceHistory,
        name: str,
        tracker: ActivityTracker,
        interval_s: float,
        gpu: bool,
    ) -> None:
        self._history = history
        self._name = name
        self._tracker = tracker
        self._interval_s = interval_s
        self._gpu = gpu
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-resources", daemon=True)

    def _loop(self) -> None:
        psutil.cpu_percent(interval=None)  # the first call only starts the span
        next_sample = time.monotonic() + self._interval_s
        self._publish(sample=False)  # the activity at once: idle, from the start
        while not self._stop.is_set():
            self._tracker.changed.wait(max(0.0, next_sample - time.monotonic()))
            if self._stop.is_set():
                break
            due = time.monotonic() >= next_sample
            if due:
                next_sample = max(next_sample + self._interval_s, time.monotonic())
            self._publish(sample=due)

    def _publish(self, sample: bool) -> None:
        self._tracker.changed.clear()
        try:
            if sample:
                self._history.record(self._name, sample_machine(self._gpu))
            self._history.set_activity(self._name, self._tracker.snapshot())
        except AppError as exc:
            _log.warning("worker_resources_not_stored", error=exc.message)
        except Exception:  # noqa: BLE001 - logged with its stack; see below
            # One bad sample (a library's surprise) must not end the sampling for the life
            # of the worker; the next one is taken as usual.
            _log.exception("worker_resources_failed")

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._tracker.changed.set()  # wakes the thread now, not at its next sample
        self._thread.join(timeout=GPU_QUERY_TIMEOUT_S + 5)
        try:
            self._history.forget(self._name)
        except AppError as exc:
            _log.warning("worker_resources_not_removed", error=exc.message)
