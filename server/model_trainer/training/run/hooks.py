"""Where the loop's reports go: metrics.jsonl, Redis, events, the manifest and the log."""

from __future__ import annotations

import threading
import time
from enum import StrEnum
from pathlib import Path

from model_trainer.core.contracts.events import EventPublisher
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import write_model
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.jobs.layout import RunFolder
from model_trainer.jobs.stopping import WORKER_STOP, StopRequest
from model_trainer.training.loop.loop import EvalResult
from model_trainer.training.loop.progress import Progress
from model_trainer.training.run.durations import AttemptClock
from model_trainer.training.run.events import (
    GLOBAL_CHANNEL,
    CheckpointSaved,
    EvalCompleted,
    TrainProgress,
    run_channel,
)
from model_trainer.training.run.manifest import MetricRecord, RunManifest


class StopReason(StrEnum):
    """Why the loop was told to stop before `max_steps`."""

    CANCELLED = "cancelled"
    WORKER_STOPPING = "worker_stopping"
    """The worker is being stopped: the run is queued again and resumes elsewhere."""


class RunReporter:
    """`LoopHooks` for one run."""

    def __init__(
        self,
        folder: Path,
        manifest: RunManifest,
        state: JobStateStore,
        events: EventPublisher,
        log: Log,
        lease_lost: threading.Event,
        clock: AttemptClock,
        stop: StopRequest = WORKER_STOP,
    ) -> None:
        self._paths = RunFolder(folder)
        self._lease_lost = lease_lost
        self._clock = clock
        self._stop = stop
        self.stop_reason: StopReason | None = None
        self._manifest = manifest
        self._state = state
        self._events = events
        self._log = log
        self._run_id = manifest.run_id
        self._channels = [GLOBAL_CHANNEL, run_channel(manifest.run_id)]
        self._metrics = self._paths.metrics.open("a", encoding="utf-8")

    def close(self) -> None:
        self._metrics.close()

    def _metric(self, record: MetricRecord) -> None:
        self._metrics.write(record.line())
        self._metrics.flush()

    def on_progress(self, progress: Progress) -> None:
        self._manifest.progress = progress
        self._metric(
            MetricRecord(
                kind="train",
                step=progress.step,
                loss=progress.train_loss,
                lr=progress.lr,
                tokens_per_s=progress.tokens_per_s,
                tokens_seen=progress.tokens_seen,
                time=time.time(),
            )
        )
        self._log.info(
            "train_progress",
            step=progress.step,
            max_steps=progress.max_steps,
            loss=progress.train_loss,
            lr=progress.lr,
            tokens_per_s=progress.tokens_per_s,
            eta_s=progress.eta_s,
        )
        try:
            self._state.set_progress(self._run_id, progress.model_dump_json())
        except RedisUnavailable as exc:
            self._log.warning("progress_not_stored", error=exc.message)
        self._events.publish(
            self._channels,
            TrainProgress(
                request_id=self._run_id,
                step=progress.step,
                max_steps=progress.max_steps,
                tokens_seen=progress.tokens_seen,
                train_loss=progress.train_loss,
                lr=progress.lr,
                tokens_per_s=progress.tokens_per_s,
                eta_s=progress.eta_s,
            ),
        )

    def on_eval(self, result: EvalResult) -> None:
        self._manifest.progress.val_loss = result.val_loss
        self._metric(
            MetricRecord(
                kind="eval",
                step=result.step,
                train_loss=result.train_loss,
                val_loss=result.val_loss,
                val_perplexity=result.val_perplexity,
                time=time.time(),
            )
        )
        self._log.info(
            "eval_completed",
            step=result.step,
            train_loss=result.train_loss,
            val_loss=result.val_loss,
            val_perplexity=result.val_perplexity,
        )
        self._events.publish(
            self._channels,
            EvalCompleted(
                request_id=self._run_id,
                step=result.step,
                train_loss=result.train_loss,
                val_loss=result.val_loss,
                val_perplexity=result.val_perplexity,
            ),
        )
        self._write_manifest()

    def on_checkpoint(self, step: int, path: str, best: bool) -> None:
        self._log.info("checkpoint_saved", step=step, file=path, best=best)
        self._events.publish(
            self._channels,
            CheckpointSaved(
                request_id=self._run_id,
                step=step,
                path=path,
                best=best,
            ),
        )
        self._write_manifest()

    def _write_manifest(self) -> None:
        self._clock.tick()  # a crash before the next write loses only the time since this one
        write_model(self._paths.manifest, self._manifest)

    def should_stop(self) -> bool:
        """Stop when cancelled, or when the worker is being stopped; `stop_reason` says which."""
        if self._lease_lost.is_set():
            # Another worker took the run over (ours stalled past the lease); stop before
            # writing anything more, and leave the run to it.
            raise AppError(ErrorCode.LEASE_LOST, f"run {self._run_id} is leased by another worker")
        try:
            cancelled = self._state.is_cancelled(self._run_id)
        except RedisUnavailable as exc:
            self._log.warning("cancel_flag_unreadable", error=exc.message)
            cancelled = False
        if cancelled:
            self.stop_reason = StopReason.CANCELLED
        elif self._stop.requested():
            self.stop_reason = StopReason.WORKER_STOPPING
        return self.stop_reason is not None
