"""Accepts evaluations of completed runs and reports the latest one of each run."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.queue import JobQueue, JobSpec
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import new_id
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.settings import Settings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.paths import corpus_files
from model_trainer.jobs.layout import RunFolder
from model_trainer.orchestrators.queue_place import QueuePlace
from model_trainer.orchestrators.queue_room import check_room
from model_trainer.orchestrators.runs import RunOrchestrator
from model_trainer.training.config import EvalRequest
from model_trainer.training.inference.eval_job import EvalKind, EvalManifest, eval_job_id
from model_trainer.training.inference.evaluate import EvalMetrics, Sample

EVAL_LEASE_S = 30.0
"""How long queueing an evaluation may hold its run's lease (a few reads and writes)."""


@dataclass
class EvalView:
    """An evaluation as the API shows it: its record, live state, and results once done.
    `manifest` is None for an evaluation from before evaluations were jobs."""

    run_id: str
    manifest: EvalManifest | None
    status: JobStatus
    message: str | None = None
    error: JobError | None = None
    metrics: EvalMetrics | None = None
    samples: list[Sample] = field(default_factory=list)
    queue: QueuePlace | None = None
    """Its place in the queue while it waits for a worker."""


class EvaluationOrchestrator:
    """Records and enqueues evaluations; reads their state and results back."""

    def __init__(
        self,
        settings: Settings,
        runs: RunOrchestrator,
        kind: EvalKind,
        queue: JobQueue,
        run_state: JobStateStore,
    ) -> None:
        self._settings = settings
        self._run_state = run_state
        """Whose leases serialise queueing an evaluation with deleting its run."""
        self._runs = runs
        self._kind = kind
        self._queue = queue

    def enqueue(self, request: EvalRequest) -> EvalManifest:
        """Refuse a run that is not completed, or a corpus that is not there; then record
        (manifest, then Redis) and enqueue. The run's lease is held meanwhile, as a
        deletion holds it: the run cannot be deleted between the check and the write."""
        run_id = request.run_id
        self._runs.get(run_id)  # 404 first, without touching Redis for a run that is none
        owner = f"api-evaluate.{socket.gethostname()}.{os.getpid()}"
        if not self._run_state.acquire_lease_soon(run_id, owner, EVAL_LEASE_S):
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' is being changed (deleted, resumed or finishing); try again "
                "in a moment",
            )
        try:
            return self._record(request)
        finally:
            self._run_state.release_lease(run_id, owner)

    def _record(self, request: EvalRequest) -> EvalManifest:
        run_id, corpus_path = request.run_id, request.corpus_path
        view = self._runs.get(run_id)
        if view.manifest.status is not JobStatus.COMPLETED:
            raise AppError(
                ErrorCode.RUN_NOT_READY,
                f"run '{run_id}' is {view.manifest.status}; evaluate a completed run",
            )
        if corpus_path is not None:
            corpus_files(self._settings.corpus_root, corpus_path)
        check_room(self._queue, self._settings.limits.max_queued_jobs)
        manifest = EvalManifest(
            eval_id=new_id("evl"),
            run_id=run_id,
            split="corpus" if corpus_path is not None else request.split,
            corpus_path=corpus_path,
            created_at=utc_now(),
        )
        self._kind.write(manifest)
        job_id = self._kind.job_id(manifest)
        self._kind.state.create(job_id, manifest.created_at.timestamp())
        self._queue.enqueue(
            JobSpec(
                job_id=manifest.eval_id,
                function=self._kind.target,
                payload_json=job_id,
                description=f"evaluate run {run_id}",
            )
        )
        return manifest

    def latest(self, run_id: str) -> EvalView:
        """The run's newest evaluation (ids sort by creation); 404 when it has none."""
        folder = self._runs.folder(run_id)
        self._runs.get(run_id)
        ids = folder.evaluations()
        if not ids:
            return self._legacy(folder)
        manifest = self._kind.read(eval_job_id(run_id, ids[-1]))
        if manifest is None:  # removed between the listing and the read
            raise AppError(ErrorCode.NOT_FOUND, f"run '{run_id}' has no evaluation yet")
        return self._view(folder, manifest)

    def _view(self, folder: RunFolder, manifest: EvalManifest) -> EvalView:
        job_id = self._kind.job_id(manifest)
        live = self._kind.state.snapshot(job_id)
        status, error = live.shown_over(manifest.status, manifest.error)
        view = EvalView(manifest.run_id, manifest, status, live.message, error)
        if status in (JobStatus.QUEUED, JobStatus.STALLED):
            # Queued under its own id; delivered again under its job id with a suffix
            view.queue = self._runs.places.of("cpu", [manifest.eval_id, job_id])
        if status is JobStatus.COMPLETED and manifest.status is JobStatus.COMPLETED:
            results = folder.evaluation(manifest.eval_id)
            view.metrics, view.samples = _results(results.metrics, results.samples)
        return view

    def _legacy(self, folder: RunFolder) -> EvalView:
        """An evaluation from before they were jobs: `eval/metrics.json` alone, completed."""
        run_id = folder.path.name
        if not folder.eval_metrics.is_file():
            raise AppError(ErrorCode.NOT_FOUND, f"run '{run_id}' has no evaluation yet")
        metrics, samples = _results(folder.eval_metrics, folder.eval_samples)
        return EvalView(run_id, None, JobStatus.COMPLETED, metrics=metrics, samples=samples)


def _results(metrics_path: Path, samples_path: Path) -> tuple[EvalMetrics, list[Sample]]:
    """An evaluation's figures and samples; unreadable ones are `DATA_INVALID`."""
    try:
        metrics = EvalMetrics.model_validate_json(metrics_path.read_bytes())
        lines = samples_path.read_text(encoding="utf-8").splitlines()
        samples = [Sample.model_validate_json(line) for line in lines if line]
    except FileNotFoundError:
        raise AppError(ErrorCode.DATA_INVALID, "the evaluation results are missing") from None
    except (ValidationError, UnicodeDecodeError) as exc:
        raise AppError(ErrorCode.DATA_INVALID, "the evaluation results are unreadable") from exc
    return metrics, samples
