"""Accepts training runs, reports on them, cancels, evaluates and samples them."""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from pathlib import Path

from model_trainer.core.contracts.events import EventPublisher, utc_now
from model_trainer.core.contracts.queue import Capability, JobQueue, JobSpec
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import new_id, validate_id
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.storage import storage
from model_trainer.infra.unreadable import report_unreadable
from model_trainer.infra.workers import WorkerDirectory
from model_trainer.jobs.endings import JobEndings
from model_trainer.jobs.labels import Labels
from model_trainer.jobs.layout import ArtifactLayout, RunFolder
from model_trainer.jobs.targets import JobTarget
from model_trainer.orchestrators.finetune_admission import BaseWeights, admit_base
from model_trainer.orchestrators.labels import LabelBook
from model_trainer.orchestrators.manifest_cache import ManifestCache
from model_trainer.orchestrators.queue_place import QueuePlace, QueuePlaces, unserved
from model_trainer.orchestrators.queue_room import check_room
from model_trainer.orchestrators.run_admission import (
    RunEstimate,
    estimate_run,
    resolve_architecture,
)
from model_trainer.orchestrators.run_labels import submitted
from model_trainer.orchestrators.run_resume import RunResumption
from model_trainer.tokenizers.manifest import TOKENIZER_MANIFESTS
from model_trainer.tokenizers.records import check_corpus
from model_trainer.tokenizers.registry import TokenizerRegistry
from model_trainer.training.config import RunConfig
from model_trainer.training.inference.generation import Generation, ModelCache
from model_trainer.training.loop.progress import Progress
from model_trainer.training.model_registry import ModelRegistry
from model_trainer.training.run.events import GLOBAL_CHANNEL, TrainQueued, run_channel
from model_trainer.training.run.kind import RunKind
from model_trainer.training.run.manifest import (
    RUN_MANIFESTS,
    RunManifest,
    TokenizerRef,
)
from model_trainer.training.run.metrics_index import MetricsPage, read_metrics
from model_trainer.training.run.samples import EvalSamples, read_samples

CANCEL_LEASE_S = 30.0
"""How long the API may hold a run's lease while it cancels it (it takes milliseconds)."""

_log = Log("training")

WAITING = (JobStatus.QUEUED, JobStatus.STALLED)
"""The statuses of a run that waits for a worker to take it."""


def run_capability(config: RunConfig) -> Capability:
    """The queue a run goes on: only a run that asked for CUDA needs a CUDA worker; `auto`
    trains on whatever the worker that takes it has."""
    return "cuda" if config.trainer.device == "cuda" else "cpu"


def run_route(manifest: RunManifest) -> Capability:
    """The queue a run goes back to when it is delivered again."""
    return run_capability(manifest.config)


class RunView:
    """A run as the API shows it: the manifest with live state from Redis."""

    def __init__(
        self,
        manifest: RunManifest,
        message: str | None,
        heartbeat: float | None,
        labels: Labels | None = None,
    ) -> None:
        self.manifest = manifest
        self.message = message
        self.heartbeat = heartbeat
        self.labels = labels if labels is not None else submitted(manifest.config)
        """The current name, notes and tags (`manifest.config` keeps those submitted)."""
        self.queue: QueuePlace | None = None
        """Its place in the queue while it waits for a worker."""


class RunOrchestrator:
    """Validates, records and enqueues runs; reads their state and results back."""

    def __init__(
        self,
        settings: Settings,
        tokenizers: TokenizerRegistry,
        models: ModelRegistry,
        state: JobStateStore,
        queue: JobQueue,
        workers: WorkerDirectory,
        events: EventPublisher,
        tokenizer_state: JobStateStore | None = None,
    ) -> None:
        self._settings = settings
        self._tokenizer_state = tokenizer_state
        """Where a model folder's tokenizer, once registered, is listed with the others."""
        self._tokenizers = tokenizers
        self._models_registry = models
        self._state = state
        self._queue = queue
        self._workers = workers
        self._events = events
        self.places = QueuePlaces(queue, workers)
        self._layout = ArtifactLayout(settings.artifacts_folder)
        self._kind = RunKind(self._layout, state, events)
        self._kind.publishes = False  # a run's files reach the store from its worker alone
        self._endings = JobEndings(self._kind)
        self._resumption = RunResumption(settings, self._kind, queue, events, run_route)
        self._models = ModelCache(models)
        self._manifests = ManifestCache(RUN_MANIFESTS.read_local, settings.store.refresh_s)
        self.labels = LabelBook(settings.store.refresh_s)

    def folder(self, run_id: str) -> RunFolder:
        return self._layout.run(validate_id(run_id, "run"))

    def enqueue_training(self, config: RunConfig) -> RunManifest:
        """Refuse what cannot work before queueing it; then record, enqueue and return."""
        tokenizer, estimate, base = self._admit(config)
        if estimate.refusal is not None:
            raise estimate.refusal
        check_room(self._queue, self._settings.limits.max_queued_jobs)
        arch, parameters = estimate.architecture, estimate.parameters
        run_id = new_id("run")
        manifest = RunManifest(
            run_id=run_id,
            status=JobStatus.QUEUED,
            config=base.config if base is not None else config,
            tokenizer=tokenizer,
            architecture=arch,
            parameters=parameters,
            created_at=utc_now(),
            progress=Progress(max_steps=config.trainer.max_steps),
            finetune=base.finetune if base is not None else None,
        )
        self._kind.write(manifest)
        self._state.create(run_id, time.time())
        # Before the enqueue: a worker may start the run at once, and listeners (the Discord
        # bot) should hear that it was queued before they hear that it started.
        self._events.publish(
            [GLOBAL_CHANNEL, run_channel(run_id)],
            TrainQueued(
                request_id=run_id,
                family=arch.family,
                parameters=parameters,
                max_steps=config.trainer.max_steps,
            ),
        )
        capability = run_capability(manifest.config)
        self._queue.enqueue(
            JobSpec(
                job_id=run_id,
                function=JobTarget.TRAIN_MODEL,
                payload_json=run_id,
                description=f"train {arch.family} run {run_id}",
                capability=capability,
            )
        )
        _log.info("run_enqueued", run_id=run_id, parameters=parameters, capability=capability)
        return manifest

    def estimate(self, config: RunConfig) -> RunEstimate:
        """What submitting `config` would make and need, and whether a live worker could
        take it (or the refusal it would get), with nothing recorded or queued; a body that
        names no usable tokenizer, corpus, family or size is refused as a submission is."""
        return self._admit(config)[1]

    def _admit(self, config: RunConfig) -> tuple[TokenizerRef, RunEstimate, BaseWeights | None]:
        """The run's tokenizer, and its estimate against the limits and the live workers
        (with the refusal it gets, if any), and for a run that starts from existing weights
        (`model.init_from`) what they are; the request's own faults raise here, naming the
        field. Shared by submitting and estimating, so both judge alike."""
        limits = self._settings.limits
        if config.trainer.max_steps > limits.max_steps:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"trainer.max_steps: {config.trainer.max_steps} exceeds the limit "
                f"{limits.max_steps}",
            )
        if config.model.max_seq_len > limits.max_seq_len:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"model.max_seq_len: exceeds the limit {limits.max_seq_len}",
            )
        self._check_baseline(config.baseline_run_id)
        base = self._base_weights(config)
        tokenizer = self._tokenizer_ref((base.config if base else config).data.tokenizer_id)
        check_corpus(
            self._settings.corpus_root, config.data.corpus_path, config.data, "data.corpus_path"
        )
        if base is None:
            backend, arch = resolve_architecture(
                config.model, self._models_registry, tokenizer.vocab_size
            )
        else:
            backend, arch = base.backend, base.architecture
            if tokenizer.vocab_size > arch.vocab_size:
                raise AppError(
                    ErrorCode.TOKENIZER_MISMATCH,
                    f"data.tokenizer_id: its {tokenizer.vocab_size:,} tokens do not fit the "
                    f"model's {arch.vocab_size:,} embeddings",
                )
        live = self._workers.live()
        lora = base.lora_parameters if base else 0
        estimate = estimate_run(arch, backend, config.trainer, limits, live, lora)
        return tokenizer, estimate, base

    def _check_baseline(self, run_id: str | None) -> None:
        """The run a new one is compared with must exist (it may still be training)."""
        if run_id is None:
            return
        validate_id(run_id, "baseline_run_id: run")
        if not storage().pull(self.folder(run_id).manifest):
            raise AppError(ErrorCode.NOT_FOUND, f"baseline_run_id: run '{run_id}' does not exist")

    def _base_weights(self, config: RunConfig) -> BaseWeights | None:
        """The weights a fine-tuning run starts from, checked (None for other runs)."""
        if config.model.init_from is None:
            return None
        base = admit_base(
            config, self._settings, self._layout, self._models_registry, self._tokenizers
        )
        if base.finetune.origin.path is not None:  # a folder's tokenizer, maybe new
            self._list_tokenizer(base.config.data.tokenizer_id)
        limit = self._settings.limits.max_seq_len
        if base.architecture.max_seq_len > limit:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"model.max_seq_len: the model's context {base.architecture.max_seq_len} "
                f"exceeds the limit {limit}; give a shorter one",
            )
        return base

    def _list_tokenizer(self, tokenizer_id: str | None) -> None:
        """A tokenizer registered from a model folder, in Redis's list of tokenizers (as
        completed) unless it is there already."""
        state = self._tokenizer_state
        if state is None or tokenizer_id is None or state.snapshot(tokenizer_id).status:
            return
        state.create(tokenizer_id, time.time())
        state.set_status(tokenizer_id, JobStatus.COMPLETED, "came with a model folder")

    def _tokenizer_ref(self, tokenizer_id: str | None) -> TokenizerRef:
        if tokenizer_id is None:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                "data.tokenizer_id: required unless model.init_from names weights",
            )
        validate_id(tokenizer_id, "tokenizer")
        tok = TOKENIZER_MANIFESTS.read(self._layout.tokenizer(tokenizer_id).manifest)
        if tok is None:
            raise AppError(
                ErrorCode.TOKENIZER_NOT_FOUND,
                f"data.tokenizer_id: tokenizer '{tokenizer_id}' does not exist",
            )
        if tok.status is not JobStatus.COMPLETED or tok.stats is None:
            raise AppError(
                ErrorCode.TOKENIZER_NOT_READY,
                f"data.tokenizer_id: tokenizer '{tokenizer_id}' is {tok.status}, not completed",
            )
        return TokenizerRef(
            tokenizer_id=tokenizer_id,
            method=str(tok.config.method),
            vocab_size=tok.stats.vocab_size,
        )

    def get(self, run_id: str) -> RunView:
        """The manifest (parsed again only when it changed) with live state from Redis."""
        manifest = self._manifests.get(self.folder(run_id).manifest)
        if manifest is None:
            raise AppError(ErrorCode.NOT_FOUND, f"run '{run_id}' does not exist")
        live = self._state.snapshot(run_id)
        manifest.status, manifest.error = live.shown_over(manifest.status, manifest.error)
        if manifest.status not in TERMINAL and live.progress:
            manifest.progress = Progress.model_validate_json(live.progress)
        message = manifest.error.message if manifest.error else live.message
        if manifest.status in WAITING:
            message = self._unserved(manifest, message)
        labels = self.labels.current(self.folder(run_id), submitted(manifest.config))
        view = RunView(manifest, message, live.heartbeat, labels)
        if manifest.status in WAITING:
            view.queue = self.places.of(run_capability(manifest.config), [run_id])
        return view

    def _unserved(self, manifest: RunManifest, message: str | None) -> str | None:
        """A waiting run's message, saying so when no live worker serves its queue: it is
        not failing, it waits for one to start."""
        capability = run_capability(manifest.config)
        live = self._workers.live()
        # With no live worker at all `/readyz` says so; what needs saying for the cpu queue
        # is live workers that all serve cuda alone.
        nobody = unserved(live, capability) if live or capability != "cpu" else None
        if nobody is None:
            return message
        why = f"waiting for {nobody}"
        return f"{message}; {why}" if message else why

    def has_ended(self, run_id: str) -> bool:
        """Whether the run completed, failed or was cancelled."""
        return self.get(run_id).manifest.status in TERMINAL

    def newest(self, limit: int) -> list[RunView]:
        ids = self._state.newest(limit)
        if not ids:
            store = storage()  # the shared store's runs too, when artifacts live there
            names = sorted(store.folders(self._layout.runs), reverse=True)
            ids = [name for name in names if store.pull(self._layout.run(name).manifest)][:limit]
        views: list[RunView] = []
        for run_id in ids:
            try:
                views.append(self.get(run_id))
            except AppError as exc:  # one bad run must not hide the others
                report_unreadable(self._layout.run(run_id).manifest, exc, _log)
        return views

    def cancel(self, run_id: str) -> RunView:
        """Raise the run's cancel flag; a run that no worker holds (queued, or stalled) ends
        `cancelled` at once, and a training one at its next step."""
        view = self.get(run_id)
        if view.manifest.status in TERMINAL:
            raise AppError(
                ErrorCode.RUN_NOT_ACTIVE, f"run '{run_id}' already ended ({view.manifest.status})"
            )
        self._state.request_cancel(run_id)
        _log.info("run_cancel_requested", run_id=run_id)
        if self._end_if_unheld(run_id):
            return self.get(run_id)
        view.message = "cancellation requested"
        return view

    def resume(self, run_id: str, max_steps: int | None) -> RunManifest:
        """Queue an ended run again under its id: from its last checkpoint, or extended to
        `max_steps` (see `run_resume`)."""
        shown = self.get(run_id).manifest.status
        return self._resumption.resume(run_id, shown, max_steps)

    def _end_if_unheld(self, run_id: str) -> bool:
        """End the run now if no worker holds its lease. Holding the lease meanwhile keeps a
        worker from starting it; one that takes it afterwards reads `cancelled` and stops."""
        owner = f"api-cancel.{socket.gethostname()}.{os.getpid()}"
        if not self._state.acquire_lease(run_id, owner, CANCEL_LEASE_S):
            return False  # a worker trains it: it sees the flag before its next step
        try:
            manifest = self._kind.read(run_id)  # the id was checked by `cancel`
            if manifest is None or manifest.status in TERMINAL:
                return False
            self._endings.cancel_unstarted(manifest, self._kind.log(run_id))
            return True
        finally:
            self._state.release_lease(run_id, owner)

    def metrics(
        self, run_id: str, after: int, limit: int | None = None, points: int | None = None
    ) -> MetricsPage:
        """The run's metric records after the first `after` (at most `limit` lines of them;
        with `points`, downsampled to about that many), and the `after` for the next."""
        path = self.folder(run_id).metrics
        if storage().shared:  # pushed at every checkpoint
            storage().pull(path, self._settings.store.refresh_s)
        self.get(run_id)
        return read_metrics(path, after, limit, points)

    def samples(self, run_id: str) -> list[EvalSamples]:
        """The samples of each evaluation during training, oldest first."""
        path = self.folder(run_id).samples
        if storage().shared:  # pushed at every evaluation
            storage().pull(path, self._settings.store.refresh_s)
        self.get(run_id)
        return read_samples(path)

    def log_tail(self, run_id: str, lines: int) -> list[str]:
        self.get(run_id)
        path = self.folder(run_id).logs
        if not path.is_file():
            return []
        with path.open(encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]

    def log_path(self, run_id: str) -> Path:
        self.get(run_id)
        return self.folder(run_id).logs

    def generate(
        self,
        run_id: str,
        prompt: str,
        max_new_tokens: int,
        temperature: float,
        top_k: int | None,
        seed: int,
    ) -> Generation:
        """A generation from the run's exported model, loaded (or cached); it samples only
        when advanced, a slice at a time, so the caller can interleave and stop it."""
        if max_new_tokens > self._settings.limits.max_new_tokens:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"max_new_tokens: exceeds the limit {self._settings.limits.max_new_tokens}",
            )
        view = self.get(run_id)
        manifest = view.manifest
        export_dir = self.folder(run_id).export
        if manifest.status is not JobStatus.COMPLETED or not export_dir.is_dir():
            raise AppError(
                ErrorCode.RUN_NOT_READY,
                f"run '{run_id}' is {manifest.status}; it has no exported model yet",
            )
        tok_folder = self._layout.tokenizer(manifest.tokenizer.tokenizer_id)
        tok = TOKENIZER_MANIFESTS.read(tok_folder.manifest)
        if tok is None:
            raise AppError(ErrorCode.TOKENIZER_NOT_FOUND, "the run's tokenizer is gone")
        handle = self._tokenizers.get(tok.config.method).load(tok_folder.path)
        arch = manifest.architecture
        # Cached by export: a completed run that is extended exports again when it completes
        finished = manifest.finished_at.isoformat() if manifest.finished_at else ""
        key = f"{run_id}@{finished}"
        loaded = self._models.get(key, arch.family, export_dir, handle, arch.max_seq_len)
        return loaded.start(prompt, max_new_tokens, temperature, top_k, seed)
