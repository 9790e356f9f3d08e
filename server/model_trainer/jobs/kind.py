"""One kind of job (tokenizers, runs) as the lifecycle and the reconciler see it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.queue import Capability, JobSpec
from model_trainer.core.errors import ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.core.logging import Category, Log
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.storage import storage
from model_trainer.jobs.layout import ArtifactLayout, JobFolder, LabelledFolder
from model_trainer.jobs.manifest import JobRecord
from model_trainer.jobs.targets import JobTarget

R = TypeVar("R", bound=JobRecord)

Route = Callable[[R], Capability]
"""Which queue a job of one kind goes back to when it is delivered again (what the
orchestrator chose when it first queued it, read from the manifest)."""


def on_cpu(_manifest: JobRecord) -> Capability:
    """The route of every kind but runs: any worker can take it."""
    return "cpu"


class Ending(BaseModel):
    """How one start of a job ended short of failing, as its body reports it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: JobStatus
    """COMPLETED, CANCELLED, or QUEUED: its worker is stopping and it waits for another."""
    message: str

    @property
    def requeued(self) -> bool:
        return self.status is JobStatus.QUEUED


class JobKind(ABC, Generic[R]):
    """A kind's words, folders, manifest and events; the lifecycle does the rest."""

    noun: ClassVar[str]
    """"run" or "tokenizer": in log events (`run_failed`) and messages."""
    category: ClassVar[Category]
    target: ClassVar[JobTarget]
    missing: ClassVar[ErrorCode]
    """The error when a job's manifest is gone."""
    resumes: ClassVar[bool]
    """Whether a new start continues from a checkpoint (otherwise it starts over)."""

    def __init__(self, layout: ArtifactLayout, state: JobStateStore) -> None:
        self.layout = layout
        self.state = state
        self.publishes = True
        """Whether `publish` pushes the job's files; the API's copies are only what it pulled
        (a restarted API could not tell them from newer files), so it pushes manifests alone."""

    @property
    @abstractmethod
    def index(self) -> Path:
        """The folder holding one folder per job of this kind."""

    def on_disk(self) -> list[str]:
        """The ids of every job with a folder, for the scan that adopts what Redis forgot
        (a dot name is a folder still being built, such as an import's staging)."""
        return storage().folders(self.index)  # the shared store's too, when there is one

    @abstractmethod
    def folder(self, job_id: str) -> JobFolder: ...

    @abstractmethod
    def read(self, job_id: str) -> R | None:
        """The job's manifest; None when it has none, `DATA_INVALID` when unreadable."""

    @abstractmethod
    def write(self, manifest: R) -> None: ...

    @abstractmethod
    def job_id(self, manifest: R) -> str: ...

    def fetch(self, manifest: R) -> None:
        """Bring from the shared store what a start needs and this host may lack (the job's
        log, so it goes on where it was; a run adds its checkpoints and tokenizer). Called
        under the lease, before the job's log is opened; raises `STORE_UNAVAILABLE`."""
        storage().pull(self.folder(self.job_id(manifest)).logs)

    def publish(self, manifest: R) -> None:
        """Push the job's files to the shared store, all but the manifest, which the next
        `write` pushes after them: a reader never sees a manifest naming a missing file. Nor
        the labels, which the API alone writes and pushes: a copy this host pulled earlier
        would undo an edit made since."""
        folder = self.folder(self.job_id(manifest))
        if not self.publishes or not storage().shared or not folder.path.is_dir():
            return
        skipped = {folder.manifest}
        if isinstance(folder, LabelledFolder):
            skipped.add(folder.labels)
        files = [p for p in sorted(folder.path.rglob("*")) if p.is_file() and p not in skipped]
        storage().push([*files, folder.logs])

    def where(self, manifest: R) -> str:
        """How far the job had got, for messages ("at step 300"); empty when it has no steps."""
        return ""

    def closing(self, manifest: R) -> None:
        """Complete the record of an end other than completion (e.g. list what is left)."""

    def announce(self, manifest: R) -> None:
        """Publish how the job ended, once the manifest and Redis say so."""

    def log(self, job_id: str) -> Log:
        return Log(self.category, job_id=job_id, **{f"{self.noun}_id": job_id})

    def cancelled_unstarted(self, manifest: R) -> str:
        where = self.where(manifest)
        return f"cancelled {where} before it resumed" if where else "cancelled before it started"

    def requeued(self, manifest: R, reason: str) -> str:
        """The message of a job put back on the queue because its worker was stopped."""
        where = self.where(manifest)
        then = f" {where}" if where else ""
        after = "; it resumes from its checkpoint" if self.resumes else "; it will start over"
        return f"requeued: its worker was stopped ({reason}){then}{after}"

    def job_spec(
        self, job_id: str, start: str, why: str, capability: Capability = "cpu"
    ) -> JobSpec:
        """One more delivery of the job to its queue (`start` tells deliveries apart)."""
        return JobSpec(
            job_id=f"{job_id}-{start}-{int(time.time())}",
            function=self.target,
            payload_json=job_id,
            description=f"{why}: {self.noun} {job_id}",
            capability=capability,
        )
