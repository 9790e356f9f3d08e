"""The training job's body: tokenize the corpus, train, export; the lifecycle does the rest."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import torch

from model_trainer.core.contracts.events import EventPublisher, utc_now
from model_trainer.core.contracts.model import LanguageModel, ModelBackend, SpecialTokens
from model_trainer.core.contracts.tokenizer import TokenizerHandle
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobError, JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import make_readable
from model_trainer.infra.paths import corpus_files
from model_trainer.infra.versions import library_versions
from model_trainer.jobs.kind import Ending
from model_trainer.jobs.layout import ArtifactLayout, RunFolder
from model_trainer.jobs.lifecycle import JobBody, JobContext
from model_trainer.jobs.stopping import WORKER_STOP, StopRequest
from model_trainer.tokenizers.hf_export import exported_special_tokens
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.config import Precision
from model_trainer.training.data.dataset import PreparedDataset, load_tokens, prepare_dataset
from model_trainer.training.loop.checkpoint import BEST, LAST, Checkpointer
from model_trainer.training.loop.device import (
    check_ranks,
    device_capacity,
    device_info,
    pick_device,
    prepare_device,
    set_threads,
    wants_compile,
)
from model_trainer.training.loop.loop import LoopEnd, LoopOutcome, TrainingData, train_loop
from model_trainer.training.loop.lora import LoraAdapter
from model_trainer.training.loop.peak import device_peak
from model_trainer.training.loop.precision import choose_precision
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.budget import (
    check_memory,
    check_tokens_per_step,
    training_flops_per_token,
)
from model_trainer.training.run.durations import AttemptClock
from model_trainer.training.run.eval_figures import (
    final_figures,
    run_regressions,
    val_bits_per_byte,
    with_val_bytes,
)
from model_trainer.training.run.finetune import check_weights, origin_folder, pretrained
from model_trainer.training.run.hooks import RunReporter, store_progress
from model_trainer.training.run.kind import RunKind, completed_artifacts
from model_trainer.training.run.manifest import RunManifest
from model_trainer.training.run.rank_messages import RankPlan
from model_trainer.training.run.ranks import train_in_ranks


def summarise(manifest: RunManifest, outcome: LoopOutcome) -> None:
    """Copy the loop's final figures into the manifest."""
    metrics = manifest.metrics
    metrics.best_val_loss = outcome.best_val_loss
    metrics.best_step = outcome.best_step
    metrics.final_train_loss = outcome.last_eval.train_loss if outcome.last_eval else None
    metrics.final_val_loss = outcome.last_eval.val_loss if outcome.last_eval else None
    metrics.final_val_perplexity = outcome.last_eval.val_perplexity if outcome.last_eval else None
    if metrics.final_val_loss is not None:
        metrics.final_val_bits_per_byte = val_bits_per_byte(manifest, metrics.final_val_loss)
    manifest.stopped_early = outcome.stopped_early
    metrics.tokens_per_s = outcome.tokens_per_s
    manifest.progress.step = outcome.step
    manifest.progress.tokens_seen = outcome.tokens_seen


def replace_export(folder: RunFolder) -> None:
    """The staged export into place. An earlier export (a completed run that was extended)
    is renamed aside rather than deleted first, so it stays whole until the new one takes
    its name (a reader that opened its files keeps reading them); then it is deleted."""
    aside = folder.export_replaced
    shutil.rmtree(aside, ignore_errors=True)  # a crash between the renames left it
    if folder.export.is_dir():
        folder.export.rename(aside)
    folder.export_staging.rename(folder.export)
    shutil.rmtree(aside, ignore_errors=True)


def rank_threads(worker_threads: int, nproc: int, device: torch.device) -> int:
    """Each process's threads: on CPU the ranks share the worker's cores out; a process
    that drives a GPU needs few, but a lone process keeps what it had."""
    if nproc == 1:
        return worker_threads
    return max(1, worker_threads // nproc) if device.type == "cpu" else 1


def initial_model(
    settings: Settings, layout: ArtifactLayout, manifest: RunManifest, backend: ModelBackend
) -> tuple[LanguageModel, LoraAdapter | None]:
    """A new model of the architecture, or the weights `model.init_from` names (checked to
    be those the run started from), with LoRA adapters when asked. Every process of a run
    builds it the same way (from the run's seed, set before)."""
    finetune = manifest.finetune
    if finetune is None:
        return backend.build(manifest.architecture), None
    folder = origin_folder(settings, layout, finetune.origin)
    check_weights(folder, finetune)
    model, adapter = pretrained(backend, folder, manifest.architecture, finetune)
    finetune.trainable_parameters = sum(
        p.numel() for p in model.module.parameters() if p.requires_grad
    )
    return model, adapter


@dataclass(frozen=True)
class _Ready:
    """What preparing a run gives training: where, on what, with which model."""

    device: torch.device
    backend: ModelBackend
    data: TrainingData
    model: LanguageModel
    precision: Precision
    dataset: PreparedDataset
    adapter: LoraAdapter | None = None
    """A LoRA run's adapters (only they train; the export merges them in)."""
    handle: TokenizerHandle | None = None
    """The run's tokenizer (samples during training are decoded with it)."""


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

    def run(self, manifest: RunManifest, job: JobContext) -> Ending:
        """Prepare, train, export, in that order; the loop says how training ended."""
        clock = AttemptClock(manifest.durations)
        folder = self._kind.folder(manifest.run_id)
        # prepare: the device, the dataset and the model
        clock.start("prepare")
        ready = self._prepare(manifest, job.log)
        # train: from the last checkpoint or the start, to max_steps or a stop
        clock.start("train")
        outcome = self._train(manifest, job, ready, clock)
        if outcome.end is LoopEnd.DIVERGED:  # fails the run; the record stays as last written
            raise AppError(ErrorCode.TRAINING_DIVERGED, outcome.detail)
        clock.tick()
        summarise(manifest, outcome)
        if outcome.end is not LoopEnd.COMPLETED:
            return self._stopped(manifest, outcome)
        # export: the Hugging Face folder, then the list of what the run leaves
        manifest.progress.phase = "finalising"  # already, unless it stopped early
        store_progress(self._kind.state, manifest.run_id, manifest.progress, job.log)
        clock.start("export")
        if outcome.stopped_early is not None:  # the best weights, not the stale last ones
            Checkpointer(folder.checkpoints, trainable_only=ready.adapter is not None).load_weights(
                BEST, ready.model, manifest.architecture
            )
        files = self._export(folder, manifest, ready)
        clock.tick()
        manifest.artifacts = completed_artifacts(folder, files)
        manifest.progress.phase = None
        return Ending(status=JobStatus.COMPLETED, message=self._completed(manifest, outcome))

    def _completed(self, manifest: RunManifest, outcome: LoopOutcome) -> str:
        """The final figures compared with the baseline run's; the run's closing words."""
        manifest.metrics.regressions = run_regressions(
            self._kind.layout,
            manifest.config.baseline_run_id,
            final_figures(manifest),
            "val",
            final=True,
        )
        if outcome.stopped_early is not None:
            return outcome.stopped_early.message
        val_loss = manifest.metrics.final_val_loss
        if val_loss is None:
            return f"completed {outcome.step} steps"
        return f"completed {outcome.step} steps; val loss {val_loss:.4f}"

    def _prepare(self, manifest: RunManifest, log: Log) -> _Ready:
        """The device, the token ids of both splits, and the model in its precision."""
        device, backend = self._start(manifest, log)
        dataset, handle = self._dataset(manifest, log)
        data = self._load_data(manifest, dataset)
        manifest.dataset = with_val_bytes(dataset.info, data.val, handle.decode)
        model, precision, adapter = self._build(manifest, device, backend, log)
        return _Ready(device, backend, data, model, precision, dataset, adapter, handle)

    def _start(self, manifest: RunManifest, log: Log) -> tuple[torch.device, ModelBackend]:
        """Pick the device, check the run fits it, and record the run as running."""
        spec, arch = manifest.config.trainer, manifest.architecture
        set_threads(self._settings.worker.threads)
        device = pick_device(spec.device)
        check_ranks(device, spec.nproc)
        prepare_device(device)
        # Again here: the API judged by the roomiest worker (or its own machine); this one
        # may have less, and a step that does not fit would be killed by the OOM killer.
        check_tokens_per_step(arch, spec, self._settings.limits)
        backend = self._models.get(arch.family)
        capacity = device_capacity(device)
        ft = manifest.finetune
        lora = ft.trainable_parameters if ft is not None and ft.lora is not None else 0
        check_memory(arch, backend, spec, self._settings.limits, capacity, "this worker", lora)
        manifest.status = JobStatus.RUNNING
        manifest.started_at = manifest.started_at or utc_now()
        manifest.versions = library_versions("torch", "transformers", "tokenizers", "numpy")
        manifest.progress.phase = "preparing"
        self._kind.write(manifest)
        # The progress first: a poller that sees it running sees it preparing, never the
        # progress an earlier start left
        store_progress(self._kind.state, manifest.run_id, manifest.progress, log)
        self._kind.state.set_status(manifest.run_id, JobStatus.RUNNING, "preparing data")
        log.info("run_started", device=str(device), parameters=manifest.parameters)
        return device, backend

    def _load_data(self, manifest: RunManifest, dataset: PreparedDataset) -> TrainingData:
        """The run's dataset, prepared (or reused), memory-mapped; each split must hold at
        least one window."""
        manifest.dataset = dataset.info
        data = TrainingData(
            train=load_tokens(dataset.train_path(), dataset.info.dtype),
            val=load_tokens(dataset.val_path(), dataset.info.dtype),
        )
        max_seq_len = manifest.architecture.max_seq_len
        for split, tokens in (("train", data.train), ("val", data.val)):
            if len(tokens) <= max_seq_len + 1:
                raise AppError(
                    ErrorCode.CORPUS_EMPTY,
                    f"the {split} split has {len(tokens)} tokens, fewer than one window of "
                    f"max_seq_len {max_seq_len} + 1; use more text or a shorter max_seq_len",
                )
        return data

    def _dataset(self, manifest: RunManifest, log: Log) -> tuple[PreparedDataset, TokenizerHandle]:
        data = manifest.config.data
        tokenizer_id = manifest.tokenizer.tokenizer_id
        tok_folder = self._kind.layout.tokenizer(tokenizer_id)
        tok_manifest = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
        if tok_manifest is None or tok_manifest.status is not JobStatus.COMPLETED:
            raise AppError(ErrorCode.TOKENIZER_NOT_READY, f"tokenizer {tokenizer_id} is gone")
        handle = self._tokenizers.get(tok_manifest.config.method).load(tok_folder.path)
        dataset = prepare_dataset(
            files=corpus_files(self._settings.corpus_root, data.corpus_path),
            corpus_root=self._settings.corpus_root,
            handle=handle,
            tokenizer_id=tokenizer_id,
            holdout_fraction=data.holdout_fraction,
            holdout_strategy=data.holdout_strategy,
            seed=manifest.config.trainer.seed,
            cache_root=self._kind.layout.datasets,
            log=log,
            text=data.text_spec(),
        )
        return dataset, handle

    def _build(
        self, manifest: RunManifest, device: torch.device, backend: ModelBackend, log: Log
    ) -> tuple[LanguageModel, Precision, LoraAdapter | None]:
        """The model from the run's seed (or the weights it starts from), in the precision
        chosen (or chosen before: a resumed run computes as it began), compiled when asked."""
        spec, arch, earlier = manifest.config.trainer, manifest.architecture, manifest.device
        torch.manual_seed(spec.seed)  # the same initial weights for the same seed
        model, adapter = initial_model(self._settings, self._kind.layout, manifest, backend)
        choice = choose_precision(spec.precision, device, model, arch, earlier)
        peak = device_peak(device, choice.precision, self._kind.layout.peak_flops)
        nproc = spec.nproc
        threads = rank_threads(self._settings.worker.threads, nproc, device)
        manifest.device = device_info(device, choice.precision, choice.reason, peak, nproc, threads)
        self._kind.write(manifest)
        log.info("precision_chosen", precision=str(choice.precision), reason=choice.reason)
        if wants_compile(spec.compile, device):
            model.compile()
        return model, choice.precision, adapter

    def _train(
        self, manifest: RunManifest, job: JobContext, ready: _Ready, clock: AttemptClock
    ) -> LoopOutcome:
        """The loop, reporting to this run's metrics, Redis, events, manifest and log."""
        folder = self._kind.folder(manifest.run_id)
        reporter = RunReporter(
            folder.path,
            manifest,
            self._kind.state,
            self._events,
            job.log,
            job.lease_lost,
            clock,
            self._stop,
            write_manifest=self._kind.write,
            flops_per_token=training_flops_per_token(
                manifest.architecture,
                ready.backend,
                ready.adapter.trainable_parameters() if ready.adapter is not None else 0,
            ),
            decode=ready.handle.decode if ready.handle is not None else None,
        )
        try:
            if manifest.config.trainer.nproc > 1:
                return self._train_in_ranks(manifest, job, ready, folder, reporter)
            return train_loop(
                ready.model,
                manifest.architecture,
                manifest.config.trainer,
                ready.data,
                ready.device,
                ready.precision,
                Checkpointer(folder.checkpoints, trainable_only=ready.adapter is not None),
                reporter,
                manifest.config.model_dump_json(),
            )
        finally:
            reporter.close()

    def _train_in_ranks(
        self,
        manifest: RunManifest,
        job: JobContext,
        ready: _Ready,
        folder: RunFolder,
        reporter: RunReporter,
    ) -> LoopOutcome:
        """Train in `trainer.nproc` processes; this one keeps owning the run (reports,
        stops) and takes the final weights from rank 0's last checkpoint for the export."""
        nproc, dataset = manifest.config.trainer.nproc, ready.dataset
        threads = rank_threads(self._settings.worker.threads, nproc, ready.device)
        plan = RankPlan(
            run_id=manifest.run_id,
            artifacts_root=str(self._kind.layout.root.resolve()),
            train_path=str(dataset.train_path()),
            val_path=str(dataset.val_path()),
            dtype=dataset.info.dtype,
            threads=threads,
            worker_pid=os.getpid(),
        )
        outcome = train_in_ranks(folder, plan, nproc, reporter, job.log)
        if outcome.end is LoopEnd.COMPLETED:
            checkpointer = Checkpointer(
                folder.checkpoints, trainable_only=ready.adapter is not None
            )
            checkpointer.load_weights(LAST, ready.model, manifest.architecture)
        return outcome

    def _export_adapter(self, folder: RunFolder, manifest: RunManifest, ready: _Ready) -> list[str]:
        """A LoRA run's adapters: saved alone into the staged export when asked (their
        files' names, relative to it), then merged into the weights the export writes."""
        if ready.adapter is None:
            return []
        files: list[str] = []
        finetune = manifest.finetune
        if finetune is not None and finetune.adapter_exported:
            origin, out = finetune.origin, folder.adapter_staging
            names = ready.adapter.save(out, origin.run_id or origin.path or "")
            files = [(out / n).relative_to(folder.export_staging).as_posix() for n in names]
        ready.adapter.merge()
        return files

    def _stopped(self, manifest: RunManifest, outcome: LoopOutcome) -> Ending:
        """A loop stopped before `max_steps`, its last checkpoint saved."""
        if outcome.end is LoopEnd.WORKER_STOPPING:
            message = self._kind.requeued(manifest, self._stop.reason)
            return Ending(status=JobStatus.QUEUED, message=message)
        message = f"cancelled at step {outcome.step}; checkpoint saved"
        return Ending(status=JobStatus.CANCELLED, message=message)

    def _export(self, folder: RunFolder, manifest: RunManifest, ready: _Ready) -> list[str]:
        """The Hugging Face export, written under a temporary name and renamed into place so
        that it appears whole or not at all; returns the names of its files. A LoRA run's
        adapters are saved alone first, when asked, then merged into the weights."""
        arch, staging = manifest.architecture, folder.export_staging
        shutil.rmtree(staging, ignore_errors=True)
        files = self._export_adapter(folder, manifest, ready)
        # The tokenizer first: the model's config records its special ids, so that a
        # generation stops (and pads) where this tokenizer's end of text is.
        special = SpecialTokens()
        tok_folder = self._kind.layout.tokenizer(manifest.tokenizer.tokenizer_id)
        tok_manifest = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
        if tok_manifest is not None:
            tok_backend = self._tokenizers.get(tok_manifest.config.method)
            options = tok_manifest.config.options
            files += tok_backend.export_hf(tok_folder.path, options, staging, arch.max_seq_len)
            special = exported_special_tokens(staging)
        files += ready.backend.export(ready.model, arch, staging, special)
        make_readable(staging)  # whatever a plugin's library wrote: readable like any file
        replace_export(folder)
        return files
