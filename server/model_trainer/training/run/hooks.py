"""Where the loop's reports go: the metrics file, Redis, events, the manifest and the log."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from model_trainer.core.contracts.events import EventPublisher
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import RunFolder
from model_trainer.jobs.stopping import WORKER_STOP, StopRequest
from model_trainer.training.config import TrainerSpec
from model_trainer.training.loop.loop import EvalResult, LoopEnd
from model_trainer.training.loop.peak import model_flops_utilisation
from model_trainer.training.loop.progress import Phase, Progress
from model_trainer.training.run.durations import AttemptClock
from model_trainer.training.run.eval_figures import val_bits_per_byte
from model_trainer.training.run.events import (
    GLOBAL_CHANNEL,
    CheckpointSaved,
    EvalCompleted,
    TrainProgress,
    TrainStarted,
    run_channel,
)
from model_trainer.training.run.manifest import (
    MetricRecord,
    MetricsSummary,
    RunManifest,
    keep_metrics_until,
    metrics_after,
)
from model_trainer.training.run.samples import Decode, SampleLog
from model_trainer.training.run.tensorboard import TensorBoardWriter

ManifestWriter = Callable[[RunManifest], None]
"""Writes the run's manifest: the run kind's `write`, the one way it is written."""


def phase_after(step: int, spec: TrainerSpec) -> Phase:
    """What the loop does once it reached `step`: finalising after the last step (the
    final evaluation, then the export), evaluating where an evaluation is due (the loop's
    rule: every `eval_interval` steps), else training."""
    if step >= spec.max_steps:
        return "finalising"
    return "evaluating" if step % spec.eval_interval == 0 else "training"


def store_progress(state: JobStateStore, run_id: str, progress: Progress, log: Log) -> None:
    """The progress pollers read, in Redis; a Redis away loses only this report."""
    if progress.phase == "finalising":
        progress.eta_s = None  # no steps are left to time
    try:
        state.set_progress(run_id, progress.model_dump_json())
    except RedisUnavailable as exc:
        log.warning("progress_not_stored", error=exc.message)


def improve_best(summary: MetricsSummary, step: int, val_loss: float) -> None:
    """Record `val_loss` at `step` as the run's best when it is one, by the loop's rule for
    its best checkpoint: after step 0, finite, and lower than the best so far."""
    if step <= 0 or not math.isfinite(val_loss):
        return
    if summary.best_val_loss is None or val_loss < summary.best_val_loss:
        summary.best_val_loss, summary.best_step = val_loss, step


def carry_best(summary: MetricsSummary, metrics: Path, step: int) -> None:
    """The best val loss a loop starting at `step` carries (it restores its best from the
    checkpoint there): the manifest's when it was reached before `step`; else (it came from
    evaluations the loop repeats, the one at `step` included, or none was recorded) the
    lowest of the evaluations left in `metrics`, trimmed to those before `step`. None on a
    fresh start."""
    best, at = summary.best_val_loss, summary.best_step
    if best is not None and at is not None and 0 < at < step and math.isfinite(best):
        return
    summary.best_val_loss = summary.best_step = None
    records, _ = metrics_after(metrics, 0)
    for record in records:
        if record.kind == "eval" and record.val_loss is not None:
            improve_best(summary, record.step, record.val_loss)


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
        *,
        write_manifest: ManifestWriter,
        flops_per_token: int = 0,
        decode: Decode | None = None,
    ) -> None:
        self._paths = RunFolder(folder)
        self._lease_lost = lease_lost
        self._clock = clock
        self._stop = stop
        self._write = write_manifest
        self._manifest = manifest
        self._state = state
        self._events = events
        self._log = log
        self._run_id = manifest.run_id
        self._channels = [GLOBAL_CHANNEL, run_channel(manifest.run_id)]
        self._metrics: TextIO | None = None
        self._tensorboard = TensorBoardWriter(self._paths.tensorboard, log)
        self._flops_per_token = flops_per_token
        self._samples = SampleLog(self._paths.samples, decode)

    def on_start(self, resumed_from: int | None) -> None:
        """Trim what a resumed loop will record again, and announce the start."""
        # A start without a checkpoint trains from step 0 again: what an earlier start
        # recorded (one that failed before its first checkpoint) would be repeated.
        keep_metrics_until(self._paths.metrics, resumed_from or 0)
        carry_best(self._manifest.metrics, self._paths.metrics, resumed_from or 0)
        self._samples.start(resumed_from)
        if resumed_from is not None:
            self._log.info("run_resuming", from_step=resumed_from)
        self._open_metrics()
        self._tensorboard.start(self._paths.metrics)  # the same records, trimmed as they are
        self._state.set_status(self._run_id, JobStatus.RUNNING, "training")
        manifest = self._manifest
        self._enter(phase_after(resumed_from or 0, manifest.config.trainer))
        self._events.publish(
            self._channels,
            TrainStarted(
                request_id=self._run_id,
                max_steps=manifest.config.trainer.max_steps,
                device=manifest.device.device if manifest.device else "",
                parameters=manifest.parameters,
                resumed_from_step=resumed_from or 0,
            ),
        )

    def _open_metrics(self) -> TextIO:
        if self._metrics is None:
            self._metrics = self._paths.metrics.open("a", encoding="utf-8")
        return self._metrics

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
        self._tensorboard.close()

    def _metric(self, record: MetricRecord) -> None:
        metrics = self._open_metrics()
        metrics.write(record.line())
        metrics.flush()
        self._tensorboard.write(record)

    def on_progress(self, progress: Progress) -> None:
        device = self._manifest.device
        peak = device.run_peak_flops if device is not None else None
        progress.mfu = model_flops_utilisation(progress.tokens_per_s, self._flops_per_token, peak)
        progress.phase = phase_after(progress.step, self._manifest.config.trainer)
        self._manifest.progress = progress
        self._metric(
            MetricRecord(
                kind="train",
                step=progress.step,
                loss=progress.train_loss,
                lr=progress.lr,
                tokens_per_s=progress.tokens_per_s,
                tokens_seen=progress.tokens_seen,
                mfu=progress.mfu,
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
            mfu=progress.mfu,
            eta_s=progress.eta_s,
        )
        store_progress(self._state, self._run_id, progress, self._log)
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
                phase=progress.phase,
            ),
        )

    def _enter(self, phase: Phase) -> None:
        """Show the run in `phase` (pollers read Redis; the manifest follows at its next
        write)."""
        progress = self._manifest.progress
        if progress.phase != phase:
            progress.phase = phase
            store_progress(self._state, self._run_id, progress, self._log)

    def on_eval(self, result: EvalResult) -> None:
        """Record the evaluation, and the run's best val loss so far in the manifest (the
        loop's final figure replaces it at the end, the same by the same rule)."""
        self._manifest.progress.val_loss = result.val_loss
        improve_best(self._manifest.metrics, result.step, result.val_loss)
        last = result.step >= self._manifest.config.trainer.max_steps
        self._enter("finalising" if last else "training")
        bpb = val_bits_per_byte(self._manifest, result.val_loss)
        self._metric(
            MetricRecord(
                kind="eval",
                step=result.step,
                train_loss=result.train_loss,
                val_loss=result.val_loss,
                val_perplexity=result.val_perplexity,
                val_bits_per_byte=bpb,
                time=time.time(),
            )
        )
        self._log.info(
            "eval_completed",
            step=result.step,
            train_loss=result.train_loss,
            val_loss=result.val_loss,
            val_perplexity=result.val_perplexity,
            val_bits_per_byte=bpb,
        )
        if (samples := self._samples.record(result.step, result.samples)) is not None:
            self._manifest.metrics.sample_stats = samples.stats
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
        # To the shared store first (whole, or not at all), then the manifest that records
        # the step: a run whose host dies resumes elsewhere from what the manifest says. The
        # metrics and log go before the checkpoint: a host that dies between the two leaves a
        # checkpoint whose curve reaches its step (one ahead is trimmed at the resume; one
        # behind would leave a gap).
        storage().push([self._paths.metrics, self._paths.logs, self._paths.checkpoints / path])
        self._tensorboard.flush()  # pushed with the run's other files by the manifest write
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
        self._write(self._manifest)

    def should_stop(self) -> LoopEnd | None:
        """`CANCELLED` when the run is cancelled, `WORKER_STOPPING` when its worker is being
        stopped (the run is queued again and resumes elsewhere), else None."""
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
            return LoopEnd.CANCELLED
        if self._stop.requested():
            return LoopEnd.WORKER_STOPPING
        return None
