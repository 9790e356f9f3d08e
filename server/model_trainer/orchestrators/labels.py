"""A run's or tokenizer's current labels (name, notes, tags): read for pages, edited by
`PATCH`.

The labels a job was submitted with stay in its `config`; edits go to the job folder's
labels file, which only the API writes (a worker rewrites the manifest as the job goes on
and would undo an edit made meanwhile). With a shared store the file is pushed after each
edit, and an edit builds on the store's copy fetched afresh, so edits made through two API
processes both land.
"""

from __future__ import annotations

import threading
from pathlib import Path

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.atomic import write_model
from model_trainer.infra.storage import storage
from model_trainer.infra.unreadable import report_unreadable
from model_trainer.jobs.labels import Labels, LabelsPatch
from model_trainer.jobs.layout import LabelledFolder
from model_trainer.jobs.manifest import ManifestFile
from model_trainer.orchestrators.manifest_cache import ManifestCache

LABEL_FILES = ManifestFile(Labels)
BOOK_ENTRIES = 10_000
"""Labels files a book keeps parsed at most (a filtered list reads every job's)."""
_log = Log("api")


class LabelBook:
    """Reads a job's current labels (the file, else what it was submitted with), writes
    edits. `noun` names the kind of job in messages ("run", "tokenizer")."""

    def __init__(self, refresh_s: float, noun: str = "run") -> None:
        self._files = ManifestCache(LABEL_FILES.read_local, refresh_s, BOOK_ENTRIES)
        self._lock = threading.Lock()
        self._noun = noun

    def current(self, folder: LabelledFolder, fallback: Labels) -> Labels:
        """For display: the labels file's, or `fallback` when there is none; an unreadable
        file, or a store that does not answer, shows `fallback` rather than failing the
        job's page (never build an edit on this: `edit` reads for itself)."""
        try:
            stored = self._files.get(folder.labels)
        except AppError as exc:
            if exc.code is ErrorCode.STORE_UNAVAILABLE:
                _log.warning(
                    "labels_as_submitted",
                    job_id=folder.path.name,
                    kind=self._noun,
                    error=exc.message,
                )
                return fallback
            if exc.code is not ErrorCode.DATA_INVALID:
                raise
            report_unreadable(folder.labels, exc, _log)
            return fallback
        return stored if stored is not None else fallback

    def edit(self, folder: LabelledFolder, fallback: Labels, patch: LabelsPatch) -> Labels:
        """Apply `patch` to the current labels and store them (atomically; pushed to the
        shared store). One edit at a time in this process, so two never interleave."""
        with self._lock:
            labels = patch.applied_to(_stored(folder, fallback))
            write_model(folder.labels, labels)
            if not folder.manifest.is_file():
                # Deleted meanwhile: the write made the folder again; leave nothing behind
                folder.labels.unlink(missing_ok=True)
                _remove_empty(folder.path)
                raise AppError(
                    ErrorCode.NOT_FOUND, f"{self._noun} '{folder.path.name}' does not exist"
                )
            storage().push([folder.labels])
        return labels


def _stored(folder: LabelledFolder, fallback: Labels) -> Labels:
    """The labels as the record has them now, for an edit to build on: the store's copy
    fetched afresh (`STORE_UNAVAILABLE`, a 503, when it does not answer: an edit on a stale
    copy would undo edits made elsewhere). An unreadable file holds nothing to keep, so the
    edit starts from `fallback` and replaces it."""
    if storage().shared:
        storage().pull(folder.labels)
    try:
        stored = LABEL_FILES.read_local(folder.labels)
    except AppError as exc:
        if exc.code is not ErrorCode.DATA_INVALID:
            raise
        report_unreadable(folder.labels, exc, _log)
        return fallback
    return stored if stored is not None else fallback


def _remove_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass  # not empty: a deletion under way removes it
