"""The training job's body: tokenize the corpus, train, export; the lifecycle does the rest."""

from __future__ import annotations

import shutil

import torch

from model_trainer.core.contracts.events import EventPublisher, utc_now
from model_trainer.core.contracts.model import LanguageModel, ModelBackend, SpecialTokens
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import make_readable
from model_trainer.infra.paths import corpus_files
from model_trainer.infra.versions import library_versions
from model_trainer.jobs.kind import Ending
from model_trainer.jobs.layout import RunFolder
from model_trainer.jobs.lifecycle import JobBody, JobContext
from model_trainer.jobs.stopping import WORKER_STOP, StopRequest
from model_trainer.tokenizers.hf_export import exported_special_tokens
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.data.dataset import PreparedDataset, load_tokens, prepare_dataset
from model_trainer.training.loop.checkpoint import LAST, Checkpointer
from model_trainer.training.loop.device import (
    device_capacity,
    device_info,
    pick_device,
    prepare_device,
    set_threads,
    wants_compile,
)
from model_trainer.training.loop.loop import LoopOutcome, TrainingData, train_loop
from model_trainer.training.loop.precision import choose_precision
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.budget import check_memory, check_tokens_per_step
from model_trainer.training.run.durations import AttemptClock
from model_trainer.training.run.events import GLOBAL_CHANNEL, TrainStarted, run_channel
from model_trainer.training.run.hooks import RunReporter, StopReason
from model_trainer.training.run.kind import RunKind
from model_trainer.training.run.manifest import RunManifest, keep_metrics_until


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


class RunTraining(JobBody[RunManifest]):
    """Trains one run, resuming from `last.pt` when an earlier start left one."""

    def __init__(
        self,
        settings: Settings,
        tokenizers: TokenizerRegistry,
        models: ModelRegistry,
        kind: RunKind,
        events: EventPublisher,
        stop: StopRequest = WORKER_STOP,
    ) -> None:
        self._settings = settings
        self._tokenizers = tokenizers
        self._models = models
        self._kind = kind
        self._events = events
        self._stop = stop

    def retry(self, manifest: RunManifest, error: JobError, limit: int) -> int | None:
        if manifest.retries >= limit:
            return None
        manifest.retries += 1
        manifest.last_error = error
        return manifest.retries

    def _prepare(self, manifest: RunManifest, log: Log) -> PreparedDataset:
        data = manifest.config.data
        tok_folder = self._kind.layout.tokenizer(data.tokenizer_id)
        tok_manifest = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
        if tok_manifest is None or tok_manifest.status is not JobStatus.COMPLETED:
            raise AppError(ErrorCode.TOKENIZER_NOT_READY, f"tokenizer {data.tokenizer_id} is gone")
        handle = self._tokenizers.get(tok_manifest.config.method).load(tok_folder.path)
        return prepare_dataset(
            files=corpus_files(self._settings.corpus_root, data.corpus_path),
            corpus_root=self._settings.corpus_root,
            handle=handle,
            tokenizer_id=data.tokenizer_id,
            holdout_fraction=data.holdout_fraction,
            holdout_strategy=data.holdout_strategy,
            seed=manifest.config.trainer.seed,
            cache_root=self._kind.layout.datasets,
            log=log,
        )

    def run(self, manifest: RunManifest, job: JobContext) -> Ending:
        log, folder = job.log, self._kind.folder(manifest.run_id)
        clock = AttemptClock(manifest.durations)
        clock.start("prepare")
        run_id, spec, arch = manifest.run_id, manifest.config.trainer, manifest.architecture
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
        self._kind.write(manifest)
        self._kind.state.set_status(run_id, JobStatus.RUNNING, "preparing data")
        log.info("run_started", device=str(device), parameters=manifest.parameters)

        dataset = self._prepare(manifest, log)
        manifest.dataset = dataset.info
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
        self._kind.write(manifest)
        log.info("precision_chosen", precision=str(precision), reason=choice.reason)
        if wants_compile(spec.compile, device):
            model.compile()
        checkpointer = Checkpointer(folder.checkpoints)
        resume_step = 0
        if checkpointer.exists(LAST):
            resume_step = checkpointer.meta(LAST).step
            keep_metrics_until(folder.metrics, resume_step)
            log.info("run_resuming", from_step=resume_step)
        reporter = RunReporter(
            folder.path,
            manifest,
            self._kind.state,
            self._events,
            log,
            job.lease_lost,
            clock,
            self._stop,
        )
        self._kind.state.set_status(run_id, JobStatus.RUNNING, "training")
        self._events.publish(
            [GLOBAL_CHANNEL, run_channel(run_id)],
            TrainStarted(
                request_id=run_id,
                max_steps=spec.max_steps,
                device=str(device),
                parameters=manifest.parameters,
                resumed_from_step=resume_step,
            ),
        )
        clock.start("train")
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
        clock.tick()
        summarise(manifest, outcome)
        if reporter.stop_reason is StopReason.WORKER_STOPPING:  # `last.pt` is saved
            message = self._kind.requeued(manifest, self._stop.reason)
            return Ending(status=JobStatus.QUEUED, message=message)
        if reporter.stop_reason is StopReason.CANCELLED:
            message = f"cancelled at step {outcome.step}; checkpoint saved"
            return Ending(status=JobStatus.CANCELLED, message=message)

        clock.start("export")
        files = self._export(folder, manifest, backend, model)
        clock.tick()
        listed = [folder.logs, folder.metrics, folder.last_checkpoint, folder.best_checkpoint]
        manifest.artifacts = sorted(
            [folder.relative(folder.manifest)]
            + [folder.relative(path) for path in listed]
            + [folder.relative(folder.export / name) for name in sorted(set(files))]
        )
        val_loss = manifest.metrics.final_val_loss
        message = (
            f"completed {outcome.step} steps; val loss {val_loss:.4f}"
            if val_loss is not None
            else f"completed {outcome.step} steps"
        )
        return Ending(status=JobStatus.COMPLETED, message=message)

    def _export(
        self, folder: RunFolder, manifest: RunManifest, backend: ModelBackend, model: LanguageModel
    ) -> list[str]:
        """The Hugging Face export, written under a temporary name and renamed into place so
        that it appears whole or not at all; returns the names of its files."""
        arch, staging = manifest.architecture, folder.export_staging
        shutil.rmtree(staging, ignore_errors=True)
        # The tokenizer first: the model's config records its special ids, so that a
        # generation stops (and pads) where this tokenizer's end of text is.
        files: list[str] = []
        special = SpecialTokens()
        tok_folder = self._kind.layout.tokenizer(manifest.config.data.tokenizer_id)
        tok_manifest = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
        if tok_manifest is not None:
            tok_backend = self._tokenizers.get(tok_manifest.config.method)
            options = tok_manifest.config.options
            files += tok_backend.export_hf(tok_folder.path, options, staging, arch.max_seq_len)
            special = exported_special_tokens(staging)
        files += backend.export(model, arch, staging, special)
        make_readable(staging)  # whatever a plugin's library wrote: readable like any file
        shutil.rmtree(folder.export, ignore_errors=True)
        staging.rename(folder.export)
        return files
