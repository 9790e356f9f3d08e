"""Deleting runs and tokenizers: refused while anything still needs them, and never left
half-done where anyone could see it.

The manifest is what makes a job exist for every reader: lists, the reconcilers, and other
processes through the shared store. So it goes first: the store's copy (then the store's
other objects), and the local folder is renamed to a hidden trash name in one step, so from
that instant no list shows the job and no reader pulls it back. What remains (the job's
Redis keys, the files in the trash folder) is invisible to every reader and removed after;
a failure midway leaves only such leftovers, never a job that lists with half its files.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from pathlib import Path

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import ArtifactLayout, JobFolder
from model_trainer.orchestrators.run_labels import RunCatalog
from model_trainer.orchestrators.runs import RunOrchestrator
from model_trainer.orchestrators.tokenizers import TokenizerOrchestrator
from model_trainer.training.inference.eval_job import EvalKind, eval_job_id

DELETE_LEASE_S = 120.0
"""How long the API may hold a job's lease while it deletes the job (a shared store's
objects go one request each)."""
NAMED_USERS = 5
"""Runs a refused tokenizer deletion names at most."""

_log = Log("api")


class Deletion:
    """Deletes ended runs and unused tokenizers: files, Redis state and stored objects."""

    def __init__(
        self,
        layout: ArtifactLayout,
        runs: RunOrchestrator,
        catalog: RunCatalog,
        evaluations: EvalKind,
        run_state: JobStateStore,
        tokenizers: TokenizerOrchestrator,
        tokenizer_state: JobStateStore,
    ) -> None:
        self._layout = layout
        self._runs = runs
        self._catalog = catalog
        self._evaluations = evaluations
        self._run_state = run_state
        self._tokenizers = tokenizers
        self._tokenizer_state = tokenizer_state

    def delete_run(self, run_id: str) -> None:
        """Remove an ended run that no evaluation or fine-tune still needs; 404 when there
        is none. The run's lease is held meanwhile, so no worker starts it."""
        self._refuse_needed_run(run_id)
        owner = _owner()
        if not self._run_state.acquire_lease(run_id, owner, DELETE_LEASE_S):
            raise AppError(
                ErrorCode.RUN_ACTIVE, f"run '{run_id}' is held by a worker; delete it once it ended"
            )
        try:
            self._refuse_needed_run(run_id)  # again under the lease: it may have changed
            folder = self._runs.folder(run_id)
            evaluations = folder.evaluations()
            trash = _remove_record(folder)
            self._run_state.forget(run_id)
            for eval_id in evaluations:
                self._evaluations.state.forget(eval_job_id(run_id, eval_id))
            _empty_trash(trash, folder)
        finally:
            self._run_state.release_lease(run_id, owner)
        _log.info("run_deleted", run_id=run_id, evaluations=len(evaluations))

    def _refuse_needed_run(self, run_id: str) -> None:
        """404 for no run; 409 `RUN_ACTIVE` while it, an evaluation of it, or a run that
        fine-tunes from its export has not ended."""
        status = self._runs.get(run_id).manifest.status
        if status not in TERMINAL:
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' is {status}; cancel it (POST /runs/{run_id}/cancel), then "
                "delete it",
            )
        folder = self._runs.folder(run_id)
        if storage().shared:  # evaluations that workers elsewhere recorded
            storage().pull_folder(folder.eval)
        for eval_id in folder.evaluations():
            shown = self._evaluation_status(run_id, eval_id)
            if shown is not None and shown not in TERMINAL:
                raise AppError(
                    ErrorCode.RUN_ACTIVE,
                    f"run '{run_id}' has an evaluation that is {shown} ({eval_id}); delete "
                    "the run once it has ended",
                )
        tuning = self._catalog.fine_tuning_from(run_id)
        if tuning:
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{tuning[0]}' fine-tunes from the export of run '{run_id}' and has not "
                "ended; delete this run once it has",
            )

    def _evaluation_status(self, run_id: str, eval_id: str) -> JobStatus | None:
        job_id = eval_job_id(run_id, eval_id)
        manifest = self._evaluations.read(job_id)
        if manifest is None:
            return None
        live = self._evaluations.state.snapshot(job_id)
        return live.shown_over(manifest.status, manifest.error)[0]

    def delete_tokenizer(self, tokenizer_id: str) -> None:
        """Remove a tokenizer whose job ended and that no run uses; 404 when there is none.
        Its lease is held meanwhile, so no worker starts it."""
        self._refuse_needed_tokenizer(tokenizer_id)
        owner = _owner()
        if not self._tokenizer_state.acquire_lease(tokenizer_id, owner, DELETE_LEASE_S):
            raise AppError(
                ErrorCode.TOKENIZER_ACTIVE,
                f"tokenizer '{tokenizer_id}' is held by a worker; delete it once it ended",
            )
        try:
            self._refuse_needed_tokenizer(tokenizer_id)  # again under the lease
            folder = self._layout.tokenizer(tokenizer_id)
            trash = _remove_record(folder)
            self._tokenizer_state.forget(tokenizer_id)
            self._tokenizers.forget(tokenizer_id)
            _empty_trash(trash, folder)
        finally:
            self._tokenizer_state.release_lease(tokenizer_id, owner)
        _log.info("tokenizer_deleted", tokenizer_id=tokenizer_id)

    def _refuse_needed_tokenizer(self, tokenizer_id: str) -> None:
        """404 for no tokenizer; 409 while its job runs or any run uses it."""
        status = self._tokenizers.get(tokenizer_id).manifest.status
        if status not in TERMINAL:
            raise AppError(
                ErrorCode.TOKENIZER_ACTIVE,
                f"tokenizer '{tokenizer_id}' is {status}; delete it once its job has ended",
            )
        users = self._catalog.using_tokenizer(tokenizer_id)
        if users:
            named = ", ".join(users[:NAMED_USERS])
            more = f" and {len(users) - NAMED_USERS} more" if len(users) > NAMED_USERS else ""
            runs = "1 run uses" if len(users) == 1 else f"{len(users)} runs use"
            raise AppError(
                ErrorCode.TOKENIZER_IN_USE,
                f"tokenizer '{tokenizer_id}' cannot be deleted: {runs} it ({named}{more}); "
                "delete those runs first",
            )


def _owner() -> str:
    return f"api-delete.{socket.gethostname()}.{os.getpid()}"


def _remove_record(folder: JobFolder) -> Path | None:
    """The store's objects (manifest first), then the local folder renamed to a hidden
    trash name at once; returns that name (None when there was no local folder)."""
    storage().remove_folder(folder.path, first=folder.manifest)
    return _to_trash(folder)


def _to_trash(folder: JobFolder) -> Path | None:
    trash = folder.trash(secrets.token_hex(4))
    try:
        os.rename(folder.path, trash)
    except FileNotFoundError:
        return None
    return trash


def _empty_trash(trash: Path | None, folder: JobFolder) -> None:
    """Remove the trash folder, and the job's folder too if a write that raced with the
    deletion made it again (an edit of the labels, an evaluation queued meanwhile)."""
    late = _to_trash(folder) if folder.path.exists() else None
    for path in (trash, late):
        if path is None:
            continue
        try:
            shutil.rmtree(path)
        except OSError as exc:  # hidden, so harmless; said once so that it can be removed
            _log.warning("trash_not_removed", folder=path.name, error=str(exc))
