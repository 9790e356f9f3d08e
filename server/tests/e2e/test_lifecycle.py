"""One lifecycle for every job, against a real Redis: each start ends exactly once, in the
order manifest -> Redis -> events; a warm stop queues the job again after its lease is free;
a body that starts over anyway is abandoned at once; failures are classified in one place."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.queue import Capability, JobSpec, QueueSlot
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.settings import WorkerSettings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.kind import Ending, JobKind
from model_trainer.jobs.layout import ArtifactLayout, JobFolder
from model_trainer.jobs.lifecycle import JobBody, JobContext, JobLifecycle
from model_trainer.jobs.manifest import ManifestFile
from model_trainer.jobs.stopping import StopRequest
from model_trainer.jobs.targets import JobTarget

WORKER = WorkerSettings(heartbeat_interval_s=0.2, heartbeat_ttl_s=2.0, retry_backoff_s=0.01)


class Note(BaseModel):
    """The smallest manifest a job can have."""

    model_config = ConfigDict(extra="forbid")

    note_id: str
    status: JobStatus
    created_at: datetime
    finished_at: datetime | None = None
    error: JobError | None = None
    retries: int = 0


NOTES = ManifestFile(Note)


class NoteKind(JobKind[Note]):
    """Jobs that write a note; `said` records what Redis held when each event went out."""

    noun = "note"
    category = "worker"
    target = JobTarget.TRAIN_MODEL
    missing = ErrorCode.NOT_FOUND
    resumes = True

    def __init__(self, root: Path, state: JobStateStore) -> None:
        super().__init__(ArtifactLayout(root), state)
        self.said: list[tuple[JobStatus, JobStatus | None, JobStatus | None]] = []

    @property
    def index(self) -> Path:
        return self.layout.root / "notes"

    def folder(self, job_id: str) -> JobFolder:
        return JobFolder(self.index / job_id)

    def read(self, job_id: str) -> Note | None:
        return NOTES.read(self.folder(job_id).manifest)

    def write(self, manifest: Note) -> None:
        NOTES.write(self.folder(manifest.note_id).manifest, manifest)

    def job_id(self, manifest: Note) -> str:
        return manifest.note_id

    def announce(self, manifest: Note) -> None:
        on_disk = self.read(manifest.note_id)
        live = self.state.snapshot(manifest.note_id).status
        self.said.append((manifest.status, on_disk.status if on_disk else None, live))


class StartOverKind(NoteKind):
    """Jobs without checkpoints: a new start begins again."""

    resumes = False


class Body(JobBody[Note]):
    """Runs `work`; retries transient failures while `retries` allows."""

    def __init__(self, work: Iterator[Ending | Exception]) -> None:
        self.work = work
        self.started = threading.Event()
        self.runs = 0

    def run(self, manifest: Note, job: JobContext) -> Ending:
        self.runs += 1
        self.started.set()
        step = next(self.work)
        if isinstance(step, Exception):
            raise step
        return step

    def retry(self, manifest: Note, error: JobError, limit: int) -> int | None:
        if manifest.retries >= limit:
            return None
        manifest.retries += 1
        return manifest.retries


class Queue:
    """Records deliveries, and whether the lease was free when each was made."""

    def __init__(self, state: JobStateStore) -> None:
        self.state = state
        self.specs: list[tuple[JobSpec, bool]] = []

    def enqueue(self, job: JobSpec) -> None:
        free = self.state.acquire_lease(job.payload_json, "probe", 1.0)
        self.state.release_lease(job.payload_json, "probe")
        self.specs.append((job, free))

    def live_workers(self) -> int:
        return 1

    def waiting(self) -> int:
        return 0

    def slot(self, capability: Capability, job_ids: Sequence[str]) -> QueueSlot | None:
        return None

    def executing(self, worker: str) -> list[str]:
        return []


@pytest.fixture()
def state(redis_url: str) -> Iterator[JobStateStore]:
    store = RedisStore(redis_url)
    yield JobStateStore(store, f"notes{time.time_ns()}")
    store.close()


def _job(
    tmp_path: Path,
    state: JobStateStore,
    work: list[Ending | Exception],
    resumes: bool = True,
    stop: StopRequest | None = None,
) -> tuple[NoteKind, Body, Queue, JobLifecycle[Note], str]:
    kind = (NoteKind if resumes else StartOverKind)(tmp_path, state)
    body, queue = Body(iter(work)), Queue(state)
    lifecycle = JobLifecycle(kind, body, WORKER, queue, stop or StopRequest())
    job_id = f"note-{time.time_ns()}"
    kind.write(Note(note_id=job_id, status=JobStatus.QUEUED, created_at=utc_now()))
    state.create(job_id, time.time())
    return kind, body, queue, lifecycle, job_id


def test_a_completion_is_written_to_disk_then_redis_then_announced(
    tmp_path: Path, state: JobStateStore
) -> None:
    done = Ending(status=JobStatus.COMPLETED, message="all done")
    kind, body, queue, lifecycle, job_id = _job(tmp_path, state, [done])
    assert lifecycle.run(job_id).status is JobStatus.COMPLETED
    assert kind.said == [(JobStatus.COMPLETED,) * 3]
    assert state.snapshot(job_id).message == "all done" and state.attempts(job_id) == 1
    assert lifecycle.run(job_id).status is JobStatus.COMPLETED and body.runs == 1  # ended
    assert kind.folder(job_id).logs.is_file() and not queue.specs
    assert state.acquire_lease(job_id, "next", 1.0)  # released


def test_a_cancelled_job_never_starts_and_a_held_one_is_left_alone(
    tmp_path: Path, state: JobStateStore
) -> None:
    kind, body, _, lifecycle, job_id = _job(tmp_path, state, [])
    state.request_cancel(job_id)
    assert lifecycle.run(job_id).status is JobStatus.CANCELLED and body.runs == 0
    assert state.snapshot(job_id).message == "cancelled before it started"
    kind, body, _, lifecycle, job_id = _job(tmp_path, state, [])
    state.acquire_lease(job_id, "another worker", 5.0)
    assert lifecycle.run(job_id).status is JobStatus.QUEUED and body.runs == 0


def test_a_warm_stop_queues_the_job_again_once_its_lease_is_free(
    tmp_path: Path, state: JobStateStore
) -> None:
    stop = StopRequest()
    stop.request("SIGTERM")
    kind, body, queue, lifecycle, job_id = _job(tmp_path, state, [], stop=stop)
    assert lifecycle.run(job_id).status is JobStatus.QUEUED and body.runs == 0
    live = state.snapshot(job_id)
    expected = "requeued: its worker was stopped (SIGTERM); it resumes from its checkpoint"
    assert live.status is JobStatus.QUEUED and live.message == expected
    assert kind.said == [(JobStatus.QUEUED,) * 3]
    ((spec, lease_was_free),) = queue.specs
    assert spec.function == JobTarget.TRAIN_MODEL and spec.payload_json == job_id
    assert lease_was_free and state.attempts(job_id) == 0  # a warm stop is no death


def test_a_body_that_starts_over_is_abandoned_at_once(tmp_path: Path, state: JobStateStore) -> None:
    stop, release = StopRequest(), threading.Event()

    def native_call() -> Iterator[Ending | Exception]:
        release.wait(30)  # like a library call that holds the thread until it returns
        yield Ending(status=JobStatus.COMPLETED, message="too late")

    kind, body, queue, lifecycle, job_id = _job(tmp_path, state, [], resumes=False, stop=stop)
    body.work = native_call()
    threading.Timer(0.3, lambda: stop.request("SIGTERM")).start()
    began = time.monotonic()
    try:
        assert lifecycle.run(job_id).status is JobStatus.QUEUED
        assert time.monotonic() - began < 2.0 and body.started.is_set()
    finally:
        release.set()
    assert state.snapshot(job_id).message == (
        "requeued: its worker was stopped (SIGTERM); it will start over"
    )
    assert len(queue.specs) == 1


def test_failures_are_classified_in_one_place(tmp_path: Path, state: JobStateStore) -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    kind, _, _, lifecycle, job_id = _job(tmp_path, state, [full])
    failed = lifecycle.run(job_id)
    assert failed.error is not None and failed.error.code == "STORAGE_FAILED"
    assert kind.said == [(JobStatus.FAILED,) * 3]

    kind, _, _, lifecycle, job_id = _job(tmp_path, state, [KeyError("bug")])
    with pytest.raises(KeyError):  # logged with its stack, recorded, and raised for RQ
        lifecycle.run(job_id)
    crashed = kind.read(job_id)
    assert crashed is not None and crashed.error is not None
    assert crashed.error.code == "INTERNAL_ERROR" and "KeyError" in crashed.error.message

    blip = AppError(ErrorCode.QUEUE_UNAVAILABLE, "redis blinked")
    done = Ending(status=JobStatus.COMPLETED, message="done")
    _, body, _, lifecycle, job_id = _job(tmp_path, state, [blip, blip, done])
    assert lifecycle.run(job_id).status is JobStatus.COMPLETED and body.runs == 3
    _, body, _, lifecycle, job_id = _job(tmp_path, state, [blip, done], resumes=False)
    retried = lifecycle.run(job_id)  # nothing to resume from: fails at once
    assert retried.status is JobStatus.FAILED and body.runs == 1

    lost = AppError(ErrorCode.LEASE_LOST, "another worker has it")
    kind, _, _, lifecycle, job_id = _job(tmp_path, state, [lost])
    assert lifecycle.run(job_id).status is JobStatus.QUEUED and not kind.said  # left alone
