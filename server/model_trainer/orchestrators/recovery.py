"""Runs whose worker died are noticed and resumed from their last checkpoint.

Every worker runs `RunReconciler.reconcile` at start-up and every few seconds after. A run
that Redis calls running (or stalled) but whose heartbeat has lapsed lost its worker: it is
marked `stalled` and a resume job is queued (the lease makes sure only one worker trains
it). A run whose manifest says queued or running but that Redis has never heard of (Redis
restarted without persistence) is queued again too. After `max_attempts` starts a run fails
with a clear message instead.
"""

from __future__ import annotations

import time
from pathlib import Path

from model_trainer.core.contracts.queue import JobQueue, JobSpec
from model_trainer.core.errors import AppError, ErrorCode, FailureClass
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_model
from model_trainer.infra.job_state import TERMINAL, JobStateStore, JobStatus
from model_trainer.infra.unreadable import report_unreadable
from model_trainer.tokenizers.manifest import JobError
from model_trainer.training.manifest import MANIFEST, RunManifest, read_run_manifest, run_dir

TRAIN_JOB = "model_trainer.worker.jobs.train_model"

_log = Log("worker")


class RunReconciler:
    """Finds runs that lost their worker and queues them again."""

    def __init__(self, settings: Settings, state: JobStateStore, queue: JobQueue) -> None:
        self._settings = settings
        self._state = state
        self._queue = queue

    def reconcile(self, scan_artifacts: bool = False) -> list[str]:
        """Resume what needs resuming; returns the run ids queued again."""
        resumed: list[str] = []
        for run_id in self._state.active():
            snap = self._state.snapshot(run_id)
            if snap.status in (JobStatus.RUNNING, JobStatus.STALLED) and snap.heartbeat is None:
                if self._requeue(run_id, "its worker stopped heartbeating"):
                    resumed.append(run_id)
        if scan_artifacts:
            resumed += self._adopt_forgotten()
        return resumed

    def _read(self, folder: Path) -> RunManifest | None:
        """The run's manifest; an unreadable one is reported once and skipped, so one bad
        run never stops the pass (nor the runs after it)."""
        try:
            return read_run_manifest(folder)
        except AppError as exc:
            if exc.code is not ErrorCode.DATA_INVALID:
                raise
            report_unreadable(folder / MANIFEST, exc, _log)
            return None

    def _adopt_forgotten(self) -> list[str]:
        """Runs on disk that should be alive but Redis knows nothing about."""
        root = self._settings.artifacts_root / "models"
        adopted: list[str] = []
        for folder in sorted(root.iterdir()) if root.is_dir() else []:
            manifest = self._read(folder)
            if manifest is None or manifest.status in TERMINAL:
                continue
            if self._state.snapshot(manifest.run_id).status is None:
                self._state.create(manifest.run_id, manifest.created_at.timestamp())
                if self._requeue(manifest.run_id, "Redis had forgotten it"):
                    adopted.append(manifest.run_id)
        return adopted

    def _requeue(self, run_id: str, why: str) -> bool:
        folder = run_dir(self._settings.artifacts_root, run_id)
        manifest = self._read(folder)
        if manifest is None:
            return False
        if manifest.status in TERMINAL:
            self._state.set_status(run_id, manifest.status)  # Redis catches up with disk
            return False
        attempts = self._state.attempts(run_id)
        if attempts >= self._settings.worker.max_attempts:
            self._give_up(manifest, attempts)
            return False
        message = f"resuming from its last checkpoint: {why} (start {attempts + 1})"
        self._state.set_status(run_id, JobStatus.STALLED, message)
        _log.warning("run_stalled", run_id=run_id, reason=why, attempt=attempts)
        self._queue.enqueue(
            JobSpec(
                job_id=f"{run_id}-r{attempts}-{int(time.time())}",
                function=TRAIN_JOB,
                payload_json=run_id,
                description=f"resume run {run_id}",
            )
        )
        return True

    def _give_up(self, manifest: RunManifest, starts: int) -> None:
        message = f"gave up after {starts} starts; the worker kept dying (see logs.jsonl)"
        manifest.status = JobStatus.FAILED
        manifest.error = JobError(
            code=str(ErrorCode.WORKER_LOST),
            failure_class=FailureClass.TRANSIENT,
            message=message,
        )
        write_model(run_dir(self._settings.artifacts_root, manifest.run_id) / MANIFEST, manifest)
        self._state.set_status(manifest.run_id, JobStatus.FAILED, message)
        _log.error("run_abandoned", run_id=manifest.run_id, attempts=starts)
