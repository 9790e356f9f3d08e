"""Deleting runs and tokenizers: refused while anything still needs them, and never left
half-done where anyone could see it.

The manifest is what makes a job exist for every reader: lists, the reconcilers, and other
processes through the shared store. So it goes first: the store's copy (then the store's
other objects), and the local folder is renamed to a hidden trash name in one step, so from
that instant no list shows the job and no reader pulls it back. What remains (the job's
Redis keys, the files in the trash folder) is invisible to every reader and removed after;
a failure midway leaves only such leftovers, never a job that lists with half its files.

Leftovers do not stay: the trash folder is emptied whatever fails after the rename, a
DELETE of a job that no longer exists but left Redis keys, stored objects or a trash folder
behind removes them (and answers as if it had deleted the job), and every deletion sweeps
trash folders a process that died midway left.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from pathlib import Path

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.ids import validate_id
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import ArtifactLayout, JobFolder
from model_trainer.orchestrators.run_labels import RunCatalog, Users
from model_trainer.orchestrators.runs import RunOrchestrator
from model_trainer.orchestrators.tokenizers import TokenizerOrchestrator
from model_trainer.training.inference.eval_job import EvalKind, eval_job_id

DELETE_LEASE_S = 120.0
"""How long the API may hold a job's lease while it deletes the job (a shared store's
objects go one request each)."""
NAMED_USERS = 5
"""Runs a refused tokenizer deletion names at most."""
STATE_SCAN = 100_000
"""Index entries looked through for the Redis leftovers of a job already deleted."""

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
        is none (204 when only the leftovers of an earlier deletion remained, now removed).
        The run's lease is held meanwhile, so no worker starts it and no evaluation is
        queued."""
        try:
            self._refuse_needed_run(run_id)
        except AppError as exc:
            if exc.code is not ErrorCode.NOT_FOUND or not self._run_leftovers(run_id):
                raise
            return
        owner = _owner()
        self._lease_run(run_id, owner)
        try:
            self._refuse_needed_run(run_id)  # again under the lease: it may have changed
            folder = self._runs.folder(run_id)
            evaluations = folder.evaluations()
            trash: Path | None = None
            try:
                trash = _remove_record(folder)
                self._run_state.forget(run_id)
                for eval_id in evaluations:
                    self._evaluations.state.forget(eval_job_id(run_id, eval_id))
            finally:
                _empty_trash(trash)
            _clear_late(folder)
        finally:
            self._run_state.release_lease(run_id, owner)
        _sweep(self._layout.runs)
        _log.info("run_deleted", run_id=run_id, evaluations=len(evaluations))

    def _lease_run(self, run_id: str, owner: str) -> None:
        if not self._run_state.acquire_lease_soon(run_id, owner, DELETE_LEASE_S):
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' is held by a worker or being changed; delete it once it ended",
            )

    def _run_leftovers(self, run_id: str) -> bool:
        """Remove what an earlier deletion of the run left (Redis keys, its evaluations',
        stored objects, the trash folder); False when nothing was left."""
        folder = self._runs.folder(run_id)  # 404 for an id that cannot be one
        prefix = f"{run_id}_"
        evaluations = [
            job_id
            for job_id in self._evaluations.state.newest(STATE_SCAN)
            if job_id.startswith(prefix)
        ]
        if not evaluations and not _left(folder, self._run_state, run_id):
            return False
        owner = _owner()
        self._lease_run(run_id, owner)
        try:
            if folder.manifest.is_file() or storage().pull(folder.manifest):
                return False  # made meanwhile: not leftovers (the 404 stands)
            storage().remove_folder(folder.path)
            self._run_state.forget(run_id)
            for job_id in evaluations:
                self._evaluations.state.forget(job_id)
            _clear_late(folder)
            for trash in _trash_of(folder):
                _empty_trash(trash)
        finally:
            self._run_state.release_lease(run_id, owner)
        _log.info("run_leftovers_removed", run_id=run_id, evaluations=len(evaluations))
        return True

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
        if tuning.runs:
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{tuning.runs[0]}' fine-tunes from the export of run '{run_id}' and has "
                "not ended; delete this run once it has",
            )
        if tuning.unreadable:
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' cannot be deleted: {_unreadable(tuning)}, so it may "
                "fine-tune from this run's export; repair or remove it first",
            )

    def _evaluation_status(self, run_id: str, eval_id: str) -> JobStatus | None:
        job_id = eval_job_id(run_id, eval_id)
        manifest = self._evaluations.read(job_id)
        if manifest is None:
            return None
        live = self._evaluations.state.snapshot(job_id)
        return live.shown_over(manifest.status, manifest.error)[0]

    def delete_tokenizer(self, tokenizer_id: str) -> None:
        """Remove a tokenizer whose job ended and that no run uses; 404 when there is none
        (204 when only the leftovers of an earlier deletion remained, now removed). Its
        lease is held meanwhile, so no worker starts it."""
        try:
            self._refuse_needed_tokenizer(tokenizer_id)
        except AppError as exc:
            if exc.code is not ErrorCode.NOT_FOUND or not self._tokenizer_leftovers(tokenizer_id):
                raise
            return
        owner = _owner()
        self._lease_tokenizer(tokenizer_id, owner)
        try:
            self._refuse_needed_tokenizer(tokenizer_id)  # again under the lease
            folder = self._layout.tokenizer(tokenizer_id)
            trash: Path | None = None
            try:
                trash = _remove_record(folder)
                self._tokenizer_state.forget(tokenizer_id)
                self._tokenizers.forget(tokenizer_id)
            finally:
                _empty_trash(trash)
            _clear_late(folder)
        finally:
            self._tokenizer_state.release_lease(tokenizer_id, owner)
        _sweep(self._layout.tokenizers)
        _log.info("tokenizer_deleted", tokenizer_id=tokenizer_id)

    def _lease_tokenizer(self, tokenizer_id: str, owner: str) -> None:
        if not self._tokenizer_state.acquire_lease_soon(tokenizer_id, owner, DELETE_LEASE_S):
            raise AppError(
                ErrorCode.TOKENIZER_ACTIVE,
                f"tokenizer '{tokenizer_id}' is held by a worker; delete it once it ended",
            )

    def _tokenizer_leftovers(self, tokenizer_id: str) -> bool:
        """Remove what an earlier deletion of the tokenizer left; False when nothing was."""
        folder = self._layout.tokenizer(validate_id(tokenizer_id, "tokenizer"))
        if not _left(folder, self._tokenizer_state, tokenizer_id):
            return False
        owner = _owner()
        self._lease_tokenizer(tokenizer_id, owner)
        try:
            if folder.manifest.is_file() or storage().pull(folder.manifest):
                return False  # made meanwhile: not leftovers (the 404 stands)
            storage().remove_folder(folder.path)
            self._tokenizer_state.forget(tokenizer_id)
            self._tokenizers.forget(tokenizer_id)
            _clear_late(folder)
            for trash in _trash_of(folder):
                _empty_trash(trash)
        finally:
            self._tokenizer_state.release_lease(tokenizer_id, owner)
        _log.info("tokenizer_leftovers_removed", tokenizer_id=tokenizer_id)
        return True

    def _refuse_needed_tokenizer(self, tokenizer_id: str) -> None:
        """404 for no tokenizer; 409 while its job runs or any run uses it."""
        status = self._tokenizers.get(tokenizer_id).manifest.status
        if status not in TERMINAL:
            raise AppError(
                ErrorCode.TOKENIZER_ACTIVE,
                f"tokenizer '{tokenizer_id}' is {status}; delete it once its job has ended",
            )
        found = self._catalog.using_tokenizer(tokenizer_id)
        if found.unreadable:
            raise AppError(
                ErrorCode.TOKENIZER_IN_USE,
                f"tokenizer '{tokenizer_id}' cannot be deleted: {_unreadable(found)}, so it "
                "may use the tokenizer; repair or remove it first",
            )
        users = found.runs
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


def _clear_late(folder: JobFolder) -> None:
    """The job's folder again, if a write that raced with the deletion made it anew (an
    edit of the labels, an evaluation queued meanwhile): it holds no manifest."""
    if folder.path.exists() and not folder.manifest.is_file():
        _empty_trash(_to_trash(folder))


def _empty_trash(trash: Path | None) -> None:
    if trash is None:
        return
    try:
        shutil.rmtree(trash)
    except FileNotFoundError:
        pass  # emptied by a sweep meanwhile
    except OSError as exc:  # hidden, so harmless; the next deletion's sweep tries again
        _log.warning("trash_not_removed", folder=trash.name, error=str(exc))


def _trash_of(folder: JobFolder) -> list[Path]:
    """The trash folders an earlier deletion of this job left."""
    return sorted(folder.path.parent.glob(f"{folder.trash('').name}*"))


def _left(folder: JobFolder, state: JobStateStore, job_id: str) -> bool:
    """Whether a deleted job left anything: Redis keys, a trash folder, stored objects."""
    if state.snapshot(job_id).status is not None or job_id in state.active():
        return True
    if job_id in state.newest(STATE_SCAN) or _trash_of(folder):
        return True
    return bool(storage().listing(folder.path))


def _sweep(index: Path) -> None:
    """Empty the trash folders under `index` (left by a process that stopped midway)."""
    if not index.is_dir():
        return
    for path in index.iterdir():
        if path.name.startswith(".deleting-"):
            _empty_trash(path)


def _unreadable(users: Users) -> str:
    named = ", ".join(f"'{run_id}'" for run_id in users.unreadable[:NAMED_USERS])
    runs = "run" if len(users.unreadable) == 1 else "runs"
    return f"the manifest of {runs} {named} cannot be read"
