"""The model training job: tokenize the corpus, train, export, record everything."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import torch

from model_trainer.core.contracts.events import EventPublisher, utc_now
from model_trainer.core.errors import AppError, ErrorCode, FailureClass
from model_trainer.core.logging import Log, job_log_file
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import (
    is_storage_fault,
    make_readable,
    storage_error,
    write_model,
)
from model_trainer.infra.backoff import delays, retry_transient
from model_trainer.infra.job_state import TERMINAL, JobStateStore, JobStatus
from model_trainer.infra.paths import corpus_files
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.infra.versions import library_versions
from model_trainer.tokenizers.manifest import JobError, read_manifest
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.tokenizers.training import tokenizer_dir
from model_trainer.training.budget import check_memory, check_tokens_per_step
from model_trainer.training.checkpoint import LAST, Checkpointer
from model_trainer.training.dataset import PreparedDataset, load_tokens, prepare_dataset
from model_trainer.training.device import (
    device_capacity,
    device_info,
    pick_device,
    prepare_device,
    set_threads,
    wants_compile,
)
from model_trainer.training.endings import RunEndings, summarise
from model_trainer.training.events import (
    GLOBAL_CHANNEL,
    TrainCompleted,
    TrainStarted,
    run_channel,
)
from model_trainer.training.hooks import RunReporter
from model_trainer.training.loop import TrainingData, train_loop
from model_trainer.training.manifest import (
    CHECKPOINTS,
    EXPORT,
    LOGS,
    MANIFEST,
    METRICS,
    RunManifest,
    keep_metrics_until,
    read_run_manifest,
    run_dir,
)
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.precision import choose_precision


def datasets_root(artifacts_root: Path) -> Path:
    return artifacts_root / "datasets"


class RunTrainer:
    """Runs one training job inside a worker's work horse."""

    def __init__(
        self,
        settings: Settings,
        tokenizers: TokenizerRegistry,
        models: ModelRegistry,
        state: JobStateStore,
        events: EventPublisher,
    ) -> None:
        self._settings = settings
        self._tokenizers = tokenizers
        self._models = models
        self._state = state
        self._events = events
        self._endings = RunEndings(state, events)

    def run(self, run_id: str) -> RunManifest:
        folder = run_dir(self._settings.artifacts_root, run_id)
        manifest = read_run_manifest(folder)
        if manifest is None:
            raise AppError(ErrorCode.NOT_FOUND, f"run {run_id} has no manifest")
        log = Log("training", run_id=run_id, job_id=run_id)
        worker = self._settings.worker
        owner = f"{socket.gethostname()}.{os.getpid()}"
        if manifest.status in TERMINAL:
            log.info("run_already_ended", status=str(manifest.status))
            return manifest
        leased = retry_transient(
            lambda: self._state.acquire_lease(run_id, owner, worker.heartbeat_ttl_s),
            "take the run's lease",
            log,
        )
        if not leased:
            log.warning("run_leased_elsewhere", owner=owner)  # another worker trains it
            return manifest
        try:
            with (
                job_log_file(folder / LOGS),
                self._state.heartbeat(
                    run_id, worker.heartbeat_interval_s, worker.heartbeat_ttl_s, log, owner
                ) as lease_lost,
            ):
                # Read again under the lease: a cancel may have ended the run while this job
                # waited in the queue, or raised the flag just before the lease was taken.
                manifest = read_run_manifest(folder) or manifest
                if manifest.status in TERMINAL:
                    log.info("run_already_ended", status=str(manifest.status))
                    return manifest
                cancelled = retry_transient(
                    lambda: self._state.is_cancelled(run_id), "read the cancel flag", log
                )
                if cancelled:
                    return self._endings.cancel_unstarted(folder, manifest, log)
                attempt = retry_transient(
                    lambda: self._state.next_attempt(run_id), "count the start", log
                )
                log.info("run_job_started", attempt=attempt, owner=owner)
                return self._train_with_retries(folder, manifest, log, lease_lost)
        finally:
            try:
                self._state.release_lease(run_id, owner)
            except RedisUnavailable as exc:  # it lapses with its TTL anyway
                log.warning("lease_not_released", error=exc.message)

    def _train_with_retries(
        self, folder: Path, manifest: RunManifest, log: Log, lease_lost: threading.Event
    ) -> RunManifest:
        """Train; a TRANSIENT failure is retried from the last checkpoint after a growing
        wait, a bounded number of times; bad input and fatal errors fail at once."""
        waits = delays(first_s=self._settings.worker.retry_backoff_s, max_s=60.0)
        while True:
            try:
                return self._train(folder, manifest, log, lease_lost)
            except AppError as exc:
                if exc.code is ErrorCode.LEASE_LOST:
                    log.error("run_abandoned_to_other_worker", message=exc.message)
                    return manifest
                transient = exc.failure_class is FailureClass.TRANSIENT
                if transient and manifest.retries < self._settings.worker.transient_retries:
                    self._note_retry(folder, manifest, exc, next(waits), log)
                    continue
                log.error("run_failed", error_code=str(exc.code), message=exc.message)
                self._endings.fail(folder, manifest, exc, log)
                return manifest
            except OSError as exc:
                if not is_storage_fault(exc):
                    raise
                error = storage_error(exc, f"run {manifest.run_id}")
                log.error("run_failed", error_code=str(error.code), message=error.message)
                self._endings.fail(folder, manifest, error, log)
                return manifest
            except Exception as exc:
                log.exception("run_crashed", error_code=str(ErrorCode.INTERNAL_ERROR))
                error = AppError(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                self._endings.fail(folder, manifest, error, log)
                raise

    def _note_retry(
        self, folder: Path, manifest: RunManifest, exc: AppError, delay: float, log: Log
    ) -> None:
        """Record the transient error (manifest and Redis), then wait before the retry."""
        manifest.retries += 1
        manifest.last_error = JobError(
            code=str(exc.code), failure_class=exc.failure_class, message=exc.message
        )
        message = (
            f"retry {manifest.retries} of {self._settings.worker.transient_retries} in "
            f"{delay:.0f} s after a transient error: {exc.message}"
        )
        log.warning("run_retrying", retry=manifest.retries, delay_s=delay, error=exc.message)
        write_model(folder / MANIFEST, manifest)
        try:
            self._state.set_status(manifest.run_id, JobStatus.RUNNING, message)
        except RedisUnavailable as unavailable:
            log.warning("status_not_stored", error=unavailable.message)
        time.sleep(delay)

    def _prepare(self, manifest: RunManifest, log: Log) -> PreparedDataset:
        data = manifest.config.data
        tok_folder = tokenizer_dir(self._settings.artifacts_root, data.tokenizer_id)
        tok_manifest = read_manifest(tok_folder)
        if tok_manifest is None or tok_manifest.status is not JobStatus.COMPLETED:
            raise AppError(ErrorCode.TOKENIZER_NOT_READY, f"tokenizer {data.tokenizer_id} is gone")
        handle = self._tokenizers.get(tok_manifest.config.method).load(tok_folder)
        return prepare_dataset(
            files=corpus_files(self._settings.corpus_root, data.corpus_path),
            corpus_root=self._settings.corpus_root,
            handle=handle,
            tokenizer_id=data.tokenizer_id,
            holdout_fraction=data.holdout_fraction,
            holdout_strategy=data.holdout_strategy,
            seed=manifest.config.trainer.seed,
            cache_root=datasets_root(self._settings.artifacts_root),
            log=log,
        )

    def _train(
        self, folder: Path, manifest: RunManifest, log: Log, lease_lost: threading.Event
    ) -> RunManifest:
        started = time.perf_counter()
        run_id, spec, arch = manifest.run_id, manifest.config.trainer, manifest.architecture
        channels = [GLOBAL_CHANNEL, run_channel(run_id)]
        set_threads(self._settings.worker.threads)
        device = pick_device(spec.device)
        prepare_device(device)
        # Again here: the API judged by the roomiest worker (or its own machine); this one
        # may have less, and a step that does not fit would be killed by the OOM killer.
        check_tokens_per_step(arch, spec, self._settings.limits)
        backend = self._models.get(arch.family)
        parameters = backend.parameter_count(arch)
        capacity = device_capacity(device)
        check_memory(arch, parameters, spec, self._settings.limits, capacity, "this worker")
        earlier = manifest.device
        manifest.status = JobStatus.RUNNING
        manifest.started_at = manifest.started_at or utc_now()
        manifest.versions = library_versions("torch", "transformers", "tokenizers", "numpy")
        write_model(folder / MANIFEST, manifest)
        self._state.set_status(run_id, JobStatus.RUNNING, "preparing data")
        log.info("run_started", device=str(device), parameters=manifest.parameters)

        dataset = self._prepare(manifest, log)
        manifest.dataset = dataset.info
        manifest.durations.prepare_s = time.perf_counter() - started
        data = TrainingData(
            train=load_tokens(dataset.train_path(), dataset.info.dtype),
            val=load_tokens(dataset.val_path(), dataset.info.dtype),
        )
        for split, tokens in (("train", data.train), ("val", data.val)):
            if len(tokens) <= arch.max_seq_len + 1:
                raise AppError(
                    ErrorCode.CORPUS_EMPTY,
                    f"the {split} split has {len(tokens)} tokens, fewer than one window of "
                    f"max_seq_len {arch.max_seq_len} + 1; use more text or a shorter max_seq_len",
                )

        torch.manual_seed(spec.seed)  # the same initial weights for the same seed
        model = backend.build(arch)
        choice = choose_precision(spec.precision, device, model, arch, earlier)
        precision = choice.precision
        manifest.device = device_info(device, precision, choice.reason)
        write_model(folder / MANIFEST, manifest)
        log.info("precision_chosen", precision=str(precision), reason=choice.reason)
        if wants_compile(spec.compile, device):
            model.compile()
        checkpointer = Checkpointer(folder / CHECKPOINTS)
        if checkpointer.exists(LAST):
            resume_step = checkpointer.meta(LAST).step
            keep_metrics_until(folder / METRICS, resume_step)
            log.info("run_resuming", from_step=resume_step)
        reporter = RunReporter(folder, manifest, self._state, self._events, log, lease_lost)
        self._state.set_status(run_id, JobStatus.RUNNING, "training")
        self._events.publish(
            channels,
            TrainStarted(
                request_id=run_id,
                max_steps=spec.max_steps,
                device=str(device),
                parameters=manifest.parameters,
            ),
        )
        mark = time.perf_counter()
        try:
            outcome = train_loop(
                model,
                arch,
                spec,
                data,
                device,
                precision,
                checkpointer,
                reporter,
                manifest.config.model_dump_json(),
            )
        finally:
            reporter.close()
        manifest.durations.train_s += time.perf_counter() - mark
        summarise(manifest, outcome)
        if outcome.cancelled:
            return self._endings.cancel(folder, manifest, outcome, log)

        mark = time.perf_counter()
        export_dir = folder / EXPORT
        staging = folder / f".{EXPORT}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        files = backend.export(model, arch, staging)
        tok_folder = tokenizer_dir(self._settings.artifacts_root, manifest.config.data.tokenizer_id)
        tok_manifest = read_manifest(tok_folder)
        if tok_manifest is not None:
            tok_backend = self._tokenizers.get(tok_manifest.config.method)
            options = tok_manifest.config.options
            files += tok_backend.export_hf(tok_folder, options, staging, arch.max_seq_len)
        make_readable(staging)  # whatever a plugin's library wrote: readable like any file
        shutil.rmtree(export_dir, ignore_errors=True)
        staging.rename(export_dir)  # the export appears whole or not at all
        manifest.durations.export_s = time.perf_counter() - mark

        manifest.status = JobStatus.COMPLETED
        manifest.finished_at = utc_now()
        manifest.durations.total_s = time.perf_counter() - started
        manifest.artifacts = sorted(
            [MANIFEST, LOGS, METRICS, f"{CHECKPOINTS}/last.pt", f"{CHECKPOINTS}/best.pt"]
            + [f"{EXPORT}/{name}" for name in sorted(set(files))]
        )
        write_model(folder / MANIFEST, manifest)
        message = (
            f"completed {outcome.step} steps; val loss {manifest.metrics.final_val_loss:.4f}"
            if manifest.metrics.final_val_loss is not None
            else f"completed {outcome.step} steps"
        )
        self._endings.settle(run_id, JobStatus.COMPLETED, message, log)
        self._events.publish(
            channels,
            TrainCompleted(
                request_id=run_id,
                step=outcome.step,
                final_val_loss=manifest.metrics.final_val_loss,
                best_val_loss=outcome.best_val_loss,
                seconds=manifest.durations.total_s,
            ),
        )
        log.info(
            "run_completed",
            steps=outcome.step,
            seconds=round(manifest.durations.total_s, 2),
            val_loss=manifest.metrics.final_val_loss,
        )
        return manifest
