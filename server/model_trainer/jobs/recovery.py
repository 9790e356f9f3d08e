"""Jobs whose worker died are noticed and started again, runs and tokenizers alike.

Every worker reconciles at start-up and every few seconds after. A job that Redis calls
running (or stalled) but whose heartbeat has lapsed lost its worker: it is marked `stalled`
and delivered to the queue again (the lease makes sure only one worker runs it). A run
resumes from its last checkpoint; a tokenizer, which has none, starts over from the corpus
split. A job whose manifest says queued or running but that Redis has never heard of (Redis
restarted without persistence) is queued again too. After `max_attempts` starts a job fails
with `WORKER_LOST` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol

from model_trainer.core.contracts.queue import JobQueue
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import WorkerSettings
from model_trainer.infra.unreadable import report_unreadable
from model_trainer.jobs.endings import JobEndings
from model_trainer.jobs.kind import JobKind, R, Route, on_cpu

_log = Log("worker")


class Reconciler(Protocol):
    """Queues again the jobs that lost their worker; returns their ids."""

    def reconcile(self, scan_artifacts: bool = False) -> list[str]: ...


class JobReconciler(Generic[R]):
    """Finds jobs of one kind that lost their worker and queues them again."""

    def __init__(
        self, kind: JobKind[R], worker: WorkerSettings, queue: JobQueue, route: Route[R] = on_cpu
    ) -> None:
        self._kind = kind
        self._route = route
        self._worker = worker
        self._queue = queue
        self._endings = JobEndings(kind)

    def reconcile(self, scan_artifacts: bool = False) -> list[str]:
        """Start again what needs it; `scan_artifacts` also adopts what Redis forgot."""
        state = self._kind.state
        started: list[str] = []
        for job_id in state.active():
            snap = state.snapshot(job_id)
            if snap.status in (JobStatus.RUNNING, JobStatus.STALLED) and snap.heartbeat is None:
                if self._requeue(job_id, "its worker stopped heartbeating"):
                    started.append(job_id)
        if scan_artifacts:
            started += self._adopt_forgotten()
        return started

    def _read(self, job_id: str) -> R | None:
        """The job's manifest; an unreadable one is reported once and skipped, so one bad
        job never stops the pass (nor the jobs after it)."""
        try:
            return self._kind.read(job_id)
        except AppError as exc:
            if exc.code is not ErrorCode.DATA_INVALID:
                raise
            report_unreadable(self._kind.folder(job_id).manifest, exc, _log)
            return None

    def _adopt_forgotten(self) -> list[str]:
        """Jobs on disk that should be alive but Redis knows nothing about."""
        adopted: list[str] = []
        for job_id in self._kind.on_disk():
            manifest = self._read(job_id)
            if manifest is None or manifest.status in TERMINAL:
                continue
            job_id = self._kind.job_id(manifest)
            if self._kind.state.snapshot(job_id).status is None:
                self._kind.state.create(job_id, manifest.created_at.timestamp())
                if self._requeue(job_id, "Redis had forgotten it"):
                    adopted.append(job_id)
        return adopted

    def _requeue(self, job_id: str, why: str) -> bool:
        kind, state = self._kind, self._kind.state
        manifest = self._read(job_id)
        if manifest is None:
            return False
        if manifest.status in TERMINAL:
            state.set_status(job_id, manifest.status)  # Redis catches up with disk
            return False
        attempts = state.attempts(job_id)
        if attempts >= self._worker.max_attempts:
            message = f"gave up after {attempts} starts; the worker kept dying (see logs.jsonl)"
            log = kind.log(job_id)
            self._endings.fail(manifest, AppError(ErrorCode.WORKER_LOST, message), log)
            log.error(f"{kind.noun}_abandoned", attempts=attempts)
            return False
        how = "resuming from its last checkpoint" if kind.resumes else "starting over"
        state.set_status(job_id, JobStatus.STALLED, f"{how}: {why} (start {attempts + 1})")
        kind.log(job_id).warning(f"{kind.noun}_stalled", reason=why, attempt=attempts)
        spec = kind.job_spec(job_id, f"r{attempts}", "start again", self._route(manifest))
        self._queue.enqueue(spec)
        return True


class Recovery:
    """Every kind's reconciler, in turn (a worker's maintenance thread runs it)."""

    def __init__(self, reconcilers: Sequence[Reconciler]) -> None:
        self._reconcilers = list(reconcilers)

    def reconcile(self, scan_artifacts: bool = False) -> list[str]:
        started: list[str] = []
        for reconciler in self._reconcilers:
            started += reconciler.reconcile(scan_artifacts)
        return started
