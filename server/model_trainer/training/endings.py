"""How a run ends when it does not complete: cancelled or failed, recorded everywhere."""

from __future__ import annotations

from pathlib import Path

from model_trainer.core.contracts.events import EventPublisher, utc_now
from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import write_model
from model_trainer.infra.backoff import retry_transient
from model_trainer.infra.job_state import JobStateStore, JobStatus
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.tokenizers.manifest import JobError
from model_trainer.training.checkpoint import BEST, LAST
from model_trainer.training.events import GLOBAL_CHANNEL, TrainCancelled, TrainFailed, run_channel
from model_trainer.training.loop import LoopOutcome
from model_trainer.training.manifest import CHECKPOINTS, LOGS, MANIFEST, METRICS, RunManifest


def summarise(manifest: RunManifest, outcome: LoopOutcome) -> None:
    """Copy the loop's final figures into the manifest."""
    metrics = manifest.metrics
    metrics.best_val_loss = outcome.best_val_loss
    metrics.best_step = outcome.best_step
    metrics.final_train_loss = outcome.last_eval.train_loss if outcome.last_eval else None
    metrics.final_val_loss = outcome.last_eval.val_loss if outcome.last_eval else None
    metrics.final_val_perplexity = outcome.last_eval.val_perplexity if outcome.last_eval else None
    metrics.tokens_per_s = outcome.tokens_per_s
    manifest.progress.step = outcome.step
    manifest.progress.tokens_seen = outcome.tokens_seen


def present_artifacts(folder: Path) -> list[str]:
    """The run's files that exist now, as `artifacts` lists them (a run that ended early
    still has its log, metrics and checkpoints to download)."""
    names = [MANIFEST, LOGS, METRICS, f"{CHECKPOINTS}/{LAST}", f"{CHECKPOINTS}/{BEST}"]
    return sorted(name for name in names if (folder / name).is_file() or name == MANIFEST)


class RunEndings:
    """Writes the manifest first (the record), then tells Redis and the event channels."""

    def __init__(self, state: JobStateStore, events: EventPublisher) -> None:
        self._state = state
        self._events = events

    def settle(self, run_id: str, status: JobStatus, message: str, log: Log) -> None:
        """Tell Redis how the run ended, waiting out a short outage; the manifest already
        says so, and a reconciling worker brings Redis up to date after a long one."""
        try:
            retry_transient(
                lambda: self._state.set_status(run_id, status, message), "store the status", log
            )
        except RedisUnavailable as exc:
            log.error("final_status_not_stored", status=str(status), error=exc.message)

    def cancel(
        self, folder: Path, manifest: RunManifest, outcome: LoopOutcome, log: Log
    ) -> RunManifest:
        """The loop saw the cancel flag and saved `last.pt`."""
        message = f"cancelled at step {outcome.step}; checkpoint saved"
        return self._cancelled(folder, manifest, outcome.step, message, log)

    def cancel_unstarted(self, folder: Path, manifest: RunManifest, log: Log) -> RunManifest:
        """Cancelled before this start built anything: no model, evaluation or checkpoint."""
        step = manifest.progress.step
        message = (
            f"cancelled at step {step} before it resumed" if step else "cancelled before it started"
        )
        return self._cancelled(folder, manifest, step, message, log)

    def _cancelled(
        self, folder: Path, manifest: RunManifest, step: int, message: str, log: Log
    ) -> RunManifest:
        manifest.status = JobStatus.CANCELLED
        manifest.finished_at = utc_now()
        manifest.artifacts = present_artifacts(folder)
        write_model(folder / MANIFEST, manifest)
        self.settle(manifest.run_id, JobStatus.CANCELLED, message, log)
        self._events.publish(
            [GLOBAL_CHANNEL, run_channel(manifest.run_id)],
            TrainCancelled(request_id=manifest.run_id, step=step),
        )
        log.info("run_cancelled", step=step, message=message)
        return manifest

    def fail(self, folder: Path, manifest: RunManifest, exc: AppError, log: Log) -> None:
        manifest.status = JobStatus.FAILED
        manifest.finished_at = utc_now()
        manifest.artifacts = present_artifacts(folder)
        manifest.error = manifest.last_error = JobError(
            code=str(exc.code), failure_class=exc.failure_class, message=exc.message
        )
        try:
            write_model(folder / MANIFEST, manifest)
        except AppError as unwritable:  # e.g. the disk is full: Redis still hears of it
            log.error("manifest_not_written", error=unwritable.message)
        self.settle(manifest.run_id, JobStatus.FAILED, exc.message, log)
        self._events.publish(
            [GLOBAL_CHANNEL, run_channel(manifest.run_id)],
            TrainFailed(
                request_id=manifest.run_id,
                error_code=str(exc.code),
                failure_class=str(exc.failure_class),
                message=exc.message,
            ),
        )
