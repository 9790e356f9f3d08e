"""Accepts tokenizer training requests, answers questions about tokenizers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.contracts.queue import JobQueue, JobSpec
from model_trainer.core.contracts.tokenizer import TokenizerHandle, can_train
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import new_id, validate_id
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.storage import storage
from model_trainer.infra.unreadable import report_unreadable
from model_trainer.infra.workers import WorkerDirectory
from model_trainer.jobs.labels import Labels, LabelsPatch, same_tag
from model_trainer.jobs.layout import ArtifactLayout, TokenizerFolder
from model_trainer.jobs.targets import JobTarget
from model_trainer.orchestrators.labels import LabelBook
from model_trainer.orchestrators.manifest_cache import ManifestCache
from model_trainer.orchestrators.queue_place import QueuePlace, QueuePlaces
from model_trainer.orchestrators.queue_room import check_room
from model_trainer.tokenizers.manifest import (
    TOKENIZER_MANIFESTS,
    TokenizerManifest,
    TokenizerTrainConfig,
)
from model_trainer.tokenizers.records import check_corpus
from model_trainer.tokenizers.registry import TokenizerRegistry

HANDLE_CACHE_SIZE = 16
"""Loaded tokenizers kept for the encode endpoint (oldest evicted first)."""
MAX_LISTED_TOKENIZERS = 10_000
"""Tokenizers a filtered list looks through at most, newest first."""

EPOCH = datetime.min.replace(tzinfo=UTC)
"""Where a tokenizer whose manifest cannot be read sorts: after every dated one."""
_log = Log("tokenizer")


def submitted(config: TokenizerTrainConfig) -> Labels:
    """The labels a tokenizer was submitted with."""
    return Labels(name=config.name, notes=config.notes, tags=config.tags)


@dataclass(frozen=True)
class TokenizerQuery:
    """What `GET /tokenizers` asks for; the filters combine with AND."""

    status: JobStatus | None = None
    tag: str | None = None
    method: str | None = None
    text: str | None = None
    """A piece of the tokenizer's name or id, ignoring case."""
    limit: int = 100

    @property
    def plain(self) -> bool:
        """No filter: the page alone is read."""
        return all(f is None for f in (self.status, self.tag, self.method, self.text))


class TokenizerView:
    """A tokenizer as the API shows it: the manifest, with live status from Redis."""

    def __init__(
        self,
        manifest: TokenizerManifest,
        message: str | None,
        heartbeat: float | None,
        labels: Labels | None = None,
    ):
        self.manifest = manifest
        self.message = message
        self.heartbeat = heartbeat
        self.labels = labels if labels is not None else submitted(manifest.config)
        """The current name, notes and tags (`manifest.config` keeps those submitted)."""
        self.queue: QueuePlace | None = None
        """Its place in the queue while it waits for a worker."""


class TokenizerOrchestrator:
    """Validates, records and enqueues tokenizer jobs; reads their state back."""

    def __init__(
        self,
        settings: Settings,
        registry: TokenizerRegistry,
        state: JobStateStore,
        queue: JobQueue,
        workers: WorkerDirectory | None = None,
    ) -> None:
        self._settings = settings
        self._places = QueuePlaces(queue, workers) if workers is not None else None
        """Where a waiting job stands (given the live workers, to say what it waits for)."""
        self._registry = registry
        self._state = state
        self._queue = queue
        self._layout = ArtifactLayout(settings.artifacts_folder)
        self._handles: dict[str, TokenizerHandle] = {}
        refresh_s = settings.store.refresh_s
        self.labels = LabelBook(refresh_s, noun="tokenizer")
        self._manifests = ManifestCache(
            TOKENIZER_MANIFESTS.read_local, refresh_s, MAX_LISTED_TOKENIZERS
        )
        """What a filtered list filters by, parsed again only when a manifest changed."""

    def folder(self, tokenizer_id: str) -> TokenizerFolder:
        return self._layout.tokenizer(validate_id(tokenizer_id, "tokenizer"))

    def enqueue_training(self, config: TokenizerTrainConfig) -> TokenizerManifest:
        """Check what can be checked now, write the manifest, enqueue; returns at once."""
        if config.vocab_size > self._settings.limits.max_vocab_size:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"vocab_size: {config.vocab_size} exceeds the limit "
                f"{self._settings.limits.max_vocab_size}",
            )
        options = self._registry.options(config.method, config.options, "options")
        config = config.with_options(options)  # the defaults, recorded
        # What the method could not train is refused now; what it ignores is not recorded.
        backend = self._registry.get(config.method)
        if not can_train(backend):
            raise AppError(
                ErrorCode.CONFIG_INVALID, f"method: '{config.method}' does not train tokenizers"
            )
        config = config.as_applied(backend.check(config.backend_config()))
        check_corpus(self._settings.corpus_root, config.corpus_path, config, "corpus_path")
        check_room(self._queue, self._settings.limits.max_queued_jobs)
        tokenizer_id = new_id("tok")
        manifest = TokenizerManifest(
            tokenizer_id=tokenizer_id, status=JobStatus.QUEUED, config=config, created_at=utc_now()
        )
        TOKENIZER_MANIFESTS.write(self._layout.tokenizer(tokenizer_id).manifest, manifest)
        self._state.create(tokenizer_id, time.time())
        self._queue.enqueue(
            JobSpec(
                job_id=tokenizer_id,
                function=JobTarget.TRAIN_TOKENIZER,
                payload_json=tokenizer_id,
                description=f"train {config.method} tokenizer {tokenizer_id}",
            )
        )
        _log.info("tokenizer_enqueued", tokenizer_id=tokenizer_id, method=str(config.method))
        return manifest

    def get(self, tokenizer_id: str) -> TokenizerView:
        validate_id(tokenizer_id, "tokenizer")
        manifest = TOKENIZER_MANIFESTS.read(self._layout.tokenizer(tokenizer_id).manifest)
        if manifest is None:
            raise AppError(ErrorCode.NOT_FOUND, f"tokenizer '{tokenizer_id}' does not exist")
        live = self._state.snapshot(tokenizer_id)
        manifest.status, manifest.error = live.shown_over(manifest.status, manifest.error)
        message = manifest.error.message if manifest.error else live.message
        labels = self.labels.current(self.folder(tokenizer_id), submitted(manifest.config))
        view = TokenizerView(manifest, message, live.heartbeat, labels)
        if self._places is not None and manifest.status in (JobStatus.QUEUED, JobStatus.STALLED):
            view.queue = self._places.of("cpu", [tokenizer_id])
        return view

    def has_ended(self, tokenizer_id: str) -> bool:
        """Whether the job completed, failed or was cancelled."""
        return self.get(tokenizer_id).manifest.status in TERMINAL

    def log_path(self, tokenizer_id: str) -> Path:
        self.get(tokenizer_id)
        return self._layout.tokenizer(tokenizer_id).logs

    def newest(self, limit: int) -> list[TokenizerView]:
        """Newest first: Redis's index, else the artifact folders (Redis may have forgotten)."""
        ids = self._state.newest(limit)
        if not ids:
            # a dot name is a folder being built (an import's staging), never a tokenizer yet;
            # `folders` leaves them out, and lists the shared store's too
            store = storage()
            names = sorted(store.folders(self._layout.tokenizers), reverse=True)
            ids = [n for n in names if store.pull(self._layout.tokenizer(n).manifest)][:limit]
        views: list[TokenizerView] = []
        for tokenizer_id in ids:
            try:
                views.append(self.get(tokenizer_id))
            except AppError as exc:  # one bad tokenizer must not hide the others
                report_unreadable(self._layout.tokenizer(tokenizer_id).manifest, exc, _log)
        return views

    def find(self, query: TokenizerQuery) -> list[TokenizerView]:
        """The tokenizers `query` asks for, newest first, at most `query.limit`. A filtered
        list looks through every tokenizer Redis lists or that has a folder (here or in the
        shared store), each manifest and labels file read again only when it changed."""
        if query.plain:
            return self.newest(query.limit)
        known = set(self._state.newest(MAX_LISTED_TOKENIZERS))
        known.update(storage().folders(self._layout.tokenizers))
        views: list[TokenizerView] = []
        for tokenizer_id in self._newest_first(known)[:MAX_LISTED_TOKENIZERS]:
            try:
                if self._fits(tokenizer_id, query):
                    views.append(self.get(tokenizer_id))
            except AppError as exc:  # one bad tokenizer must not hide the others
                report_unreadable(self._layout.tokenizer(tokenizer_id).manifest, exc, _log)
            if len(views) >= query.limit:
                break
        return views

    def _newest_first(self, ids: set[str]) -> list[str]:
        """`ids` by when each was created, newest first (an imported tokenizer's id is a
        content hash, not a time, so ids alone do not sort by age); unreadable ones last,
        where `find` reports them."""
        dated: list[tuple[datetime, str]] = []
        for tokenizer_id in ids:
            try:
                manifest = self._manifests.get(self._layout.tokenizer(tokenizer_id).manifest)
            except AppError:
                manifest = None
            dated.append((manifest.created_at if manifest is not None else EPOCH, tokenizer_id))
        return [tokenizer_id for _, tokenizer_id in sorted(dated, reverse=True)]

    def _fits(self, tokenizer_id: str, query: TokenizerQuery) -> bool:
        folder = self._layout.tokenizer(tokenizer_id)
        manifest = self._manifests.get(folder.manifest)
        if manifest is None:
            return False
        config = manifest.config
        if query.method is not None and config.method.casefold() != query.method.casefold():
            return False
        if query.tag is not None or query.text is not None:
            labels = self.labels.current(folder, submitted(config))
            if query.tag is not None and not any(same_tag(t, query.tag) for t in labels.tags):
                return False
            if query.text is not None:
                wanted = query.text.casefold()
                name = (labels.name or "").casefold()
                if wanted not in tokenizer_id.casefold() and wanted not in name:
                    return False
        if query.status is None:
            return True
        shown = self._state.snapshot(tokenizer_id).shown_over(manifest.status, None)[0]
        return shown is query.status

    def relabel(self, tokenizer_id: str, patch: LabelsPatch) -> TokenizerView:
        """Change the fields `patch` carries (null clears one); any status, imported
        tokenizers too."""
        view = self.get(tokenizer_id)
        self.labels.edit(self.folder(tokenizer_id), submitted(view.manifest.config), patch)
        fields = ",".join(sorted(patch.model_fields_set))
        _log.info("tokenizer_relabelled", tokenizer_id=tokenizer_id, fields=fields)
        return self.get(tokenizer_id)

    def forget(self, tokenizer_id: str) -> None:
        """Drop the loaded tokenizer of a deleted one, so encoding with it answers 404."""
        self._handles.pop(tokenizer_id, None)

    def encode(self, tokenizer_id: str, text: str) -> tuple[list[int], list[str]]:
        """Token ids and token strings of `text` under a completed tokenizer."""
        handle = self._handles.get(tokenizer_id)
        if handle is None:
            view = self.get(tokenizer_id)
            if view.manifest.status is not JobStatus.COMPLETED:
                raise AppError(
                    ErrorCode.TOKENIZER_NOT_READY,
                    f"tokenizer '{tokenizer_id}' is {view.manifest.status}, not completed",
                )
            backend = self._registry.get(view.manifest.config.method)
            handle = backend.load(self._layout.tokenizer(tokenizer_id).path)
            if len(self._handles) >= HANDLE_CACHE_SIZE:
                self._handles.pop(next(iter(self._handles)))
            self._handles[tokenizer_id] = handle
        ids = handle.encode_batch([text])[0]
        return ids, [handle.id_to_token(i) for i in ids]
