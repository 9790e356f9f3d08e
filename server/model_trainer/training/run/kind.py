"""Training runs as the lifecycle and the reconciler see them: folder, manifest, events."""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.contracts.events import EventPublisher
from model_trainer.core.errors import ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.infra.storage import storage
from model_trainer.jobs.kind import JobKind
from model_trainer.jobs.layout import ArtifactLayout, RunFolder
from model_trainer.jobs.targets import JobTarget
from model_trainer.training.run.events import (
    GLOBAL_CHANNEL,
    TrainCancelled,
    TrainCompleted,
    TrainFailed,
    TrainRequeued,
    run_channel,
)
from model_trainer.training.run.manifest import RUN_MANIFESTS, RunManifest


def _optional(folder: RunFolder) -> list[str]:
    """The files a run writes only sometimes (samples when it decodes them, the TensorBoard
    events once it logs), listed when they are there."""
    return [folder.relative(p) for p in (folder.samples, folder.tensorboard) if p.is_file()]


def present_artifacts(folder: RunFolder) -> list[str]:
    """The run's files that exist now, as `artifacts` lists them (a run that ended early
    still has its log, metrics and checkpoints to download)."""
    present = [folder.relative(path) for path in folder.kept if path.is_file()]
    return sorted([folder.relative(folder.manifest), *present, *_optional(folder)])


def completed_artifacts(folder: RunFolder, exported: list[str]) -> list[str]:
    """A completed run's files, as `artifacts` lists them: everything it keeps, what it
    wrote of the optional ones, and the export's files by name."""
    kept = [folder.relative(path) for path in folder.kept]
    export = [folder.relative(folder.export / name) for name in sorted(set(exported))]
    return sorted([folder.relative(folder.manifest), *kept, *_optional(folder), *export])


class RunKind(JobKind[RunManifest]):
    """A run resumes from `last.pt`: a new start continues where the last one stopped."""

    noun = "run"
    category = "training"
    target = JobTarget.TRAIN_MODEL
    missing = ErrorCode.NOT_FOUND
    resumes = True

    def __init__(self, layout: ArtifactLayout, state: JobStateStore, events: EventPublisher):
        super().__init__(layout, state)
        self._events = events

    @property
    def index(self) -> Path:
        return self.layout.runs

    def folder(self, job_id: str) -> RunFolder:
        return self.layout.run(job_id)

    def read(self, job_id: str) -> RunManifest | None:
        return RUN_MANIFESTS.read(self.folder(job_id).manifest)

    def write(self, manifest: RunManifest) -> None:
        """The manifest, after the files it may name (checkpoints, metrics, log, export)
        reached the shared store: written at every checkpoint, so a run whose host dies
        resumes elsewhere from the checkpoint its manifest records."""
        self.publish(manifest)
        RUN_MANIFESTS.write(self.folder(manifest.run_id).manifest, manifest)

    def fetch(self, manifest: RunManifest) -> None:
        """The run's log, metrics, samples and checkpoints (a run another host started resumes from
        them), its tokenizer, and the export it fine-tunes when that is an earlier run's."""
        store, folder = storage(), self.folder(manifest.run_id)
        for path in [*folder.kept, folder.samples]:  # samples: optional, not listed as kept
            store.pull(path)
        store.pull_folder(self.layout.tokenizer(manifest.tokenizer.tokenizer_id).path)
        origin = manifest.finetune.origin.run_id if manifest.finetune is not None else None
        if origin is not None:
            store.pull(self.layout.run(origin).manifest)
            store.pull_folder(self.layout.run(origin).export)

    def job_id(self, manifest: RunManifest) -> str:
        return manifest.run_id

    def where(self, manifest: RunManifest) -> str:
        step = manifest.progress.step
        return f"at step {step}" if step else ""

    def closing(self, manifest: RunManifest) -> None:
        folder = self.folder(manifest.run_id)
        if not self.publishes:  # the API ends a run no worker holds: list what the store has
            storage().pull_folder(folder.path)
        manifest.artifacts = present_artifacts(folder)
        if manifest.error is not None:
            manifest.last_error = manifest.error
        manifest.progress.phase = None
        if manifest.status is JobStatus.QUEUED:  # pollers read a waiting run's progress in Redis
            try:
                self.state.set_progress(manifest.run_id, manifest.progress.model_dump_json())
            except RedisUnavailable:
                pass  # the progress shows its last phase until the run starts again

    def announce(self, manifest: RunManifest) -> None:
        run_id, step = manifest.run_id, manifest.progress.step
        channels = [GLOBAL_CHANNEL, run_channel(run_id)]
        if manifest.status is JobStatus.COMPLETED:
            metrics = manifest.metrics
            self._events.publish(
                channels,
                TrainCompleted(
                    request_id=run_id,
                    step=step,
                    final_val_loss=metrics.final_val_loss,
                    best_val_loss=metrics.best_val_loss,
                    seconds=manifest.durations.total_s,
                ),
            )
        elif manifest.status is JobStatus.CANCELLED:
            self._events.publish(channels, TrainCancelled(request_id=run_id, step=step))
        elif manifest.status is JobStatus.QUEUED:  # a warm stop: another worker resumes it
            message = f"its worker was stopped at step {step}; it resumes from its checkpoint"
            self._events.publish(
                channels, TrainRequeued(request_id=run_id, step=step, message=message)
            )
        elif manifest.status is JobStatus.FAILED and manifest.error is not None:
            error = manifest.error
            self._events.publish(
                channels,
                TrainFailed(
                    request_id=run_id,
                    error_code=error.code,
                    failure_class=str(error.failure_class),
                    message=error.message,
                ),
            )
