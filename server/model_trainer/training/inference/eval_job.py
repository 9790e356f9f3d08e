"""Evaluations as the lifecycle and the reconciler see them: one job per evaluation, its
manifest in `models/<run>/eval/<evl-id>/`, its log lines in the run's `logs.jsonl`.

The lifecycle knows a job by one string, which must name the folder without a scan: an
evaluation's job id is `<run-id>_<evl-id>` (ids hold no `_`; RQ accepts it in its own ids).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.storage import storage
from model_trainer.jobs.kind import JobKind
from model_trainer.jobs.layout import EvalFolder
from model_trainer.jobs.manifest import ManifestFile
from model_trainer.jobs.targets import JobTarget
from model_trainer.training.run.manifest import RUN_MANIFESTS, EvalSplit

_SEPARATOR = "_"


class EvalManifest(BaseModel):
    """`eval/<evl-id>/manifest.json`: what one evaluation was asked to read, and its life."""

    model_config = ConfigDict(extra="forbid")

    eval_id: str
    run_id: str
    split: EvalSplit
    corpus_path: str | None = None
    """The corpus evaluated when `split` is "corpus"."""
    status: JobStatus = JobStatus.QUEUED
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: JobError | None = None


EVAL_MANIFESTS = ManifestFile(EvalManifest)


def eval_job_id(run_id: str, eval_id: str) -> str:
    """The one string the lifecycle, Redis and the queue know an evaluation by."""
    return f"{run_id}{_SEPARATOR}{eval_id}"


def split_job_id(job_id: str) -> tuple[str, str]:
    """(run id, evaluation id) of an evaluation's job id."""
    run_id, separator, eval_id = job_id.partition(_SEPARATOR)
    if not separator or not run_id or not eval_id:
        raise AppError(ErrorCode.NOT_FOUND, f"'{job_id[:80]}' is no evaluation's job id")
    return run_id, eval_id


class EvalKind(JobKind[EvalManifest]):
    """An evaluation has no checkpoint: a new start measures again from the beginning."""

    noun = "evaluation"
    category = "training"
    target = JobTarget.EVALUATE_MODEL
    missing = ErrorCode.NOT_FOUND
    resumes = False

    @property
    def index(self) -> Path:
        return self.layout.runs

    def on_disk(self) -> list[str]:
        """Every evaluation with a manifest, under every run."""
        runs = sorted(self.index.iterdir()) if self.index.is_dir() else []
        return [
            eval_job_id(run.name, eval_id)
            for run in runs
            for eval_id in self.layout.run(run.name).evaluations()
        ]

    def folder(self, job_id: str) -> EvalFolder:
        run_id, eval_id = split_job_id(job_id)
        return self.layout.run(run_id).evaluation(eval_id)

    def read(self, job_id: str) -> EvalManifest | None:
        return EVAL_MANIFESTS.read(self.folder(job_id).manifest)

    def write(self, manifest: EvalManifest) -> None:
        EVAL_MANIFESTS.write(self.folder(self.job_id(manifest)).manifest, manifest)

    def job_id(self, manifest: EvalManifest) -> str:
        return eval_job_id(manifest.run_id, manifest.eval_id)

    def fetch(self, manifest: EvalManifest) -> None:
        """The run's log (an evaluation logs into it), export and tokenizer."""
        super().fetch(manifest)
        run = self.layout.run(manifest.run_id)
        storage().pull_folder(run.export)
        recorded = RUN_MANIFESTS.read(run.manifest)
        if recorded is not None:
            storage().pull_folder(self.layout.tokenizer(recorded.tokenizer.tokenizer_id).path)

    def log(self, job_id: str) -> Log:
        run_id, eval_id = split_job_id(job_id)
        return Log(self.category, job_id=job_id, run_id=run_id, eval_id=eval_id)
