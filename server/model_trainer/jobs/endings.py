"""How a job's end is recorded: the manifest first (the record), then Redis, then events."""

from __future__ import annotations

from typing import Generic

from model_trainer.core.contracts.events import utc_now
from model_trainer.core.errors import AppError
from model_trainer.core.job_status import TERMINAL, JobError, JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.backoff import retry_transient
from model_trainer.infra.paths import printable
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.jobs.kind import Ending, JobKind, R


class JobEndings(Generic[R]):
    """Ends jobs of one kind: completed, cancelled, failed or queued again."""

    def __init__(self, kind: JobKind[R]) -> None:
        self._kind = kind

    def settle(
        self,
        job_id: str,
        status: JobStatus,
        message: str,
        log: Log,
        error: JobError | None = None,
    ) -> None:
        """Tell Redis, waiting out a short outage; the manifest already says so, and a
        reconciling worker brings Redis up to date after a long one."""
        try:
            retry_transient(
                lambda: self._kind.state.set_status(job_id, status, message, error),
                "store the status",
                log,
            )
        except RedisUnavailable as exc:
            log.error("final_status_not_stored", status=str(status), error=exc.message)

    def end(self, manifest: R, ending: Ending, log: Log) -> R:
        """Record a completion, a cancellation, or a return to the queue."""
        manifest.status = ending.status
        if ending.status in TERMINAL:
            manifest.finished_at = utc_now()
        if ending.status is not JobStatus.COMPLETED:
            self._kind.closing(manifest)
        self._kind.publish(manifest)  # its files, before the manifest that names them
        self._kind.write(manifest)
        self.settle(self._kind.job_id(manifest), ending.status, ending.message, log)
        self._kind.announce(manifest)
        event = "requeued" if ending.requeued else str(ending.status)
        log.info(f"{self._kind.noun}_{event}", message=ending.message)
        return manifest

    def cancel_unstarted(self, manifest: R, log: Log) -> R:
        """Cancelled before this start built anything."""
        message = self._kind.cancelled_unstarted(manifest)
        return self.end(manifest, Ending(status=JobStatus.CANCELLED, message=message), log)

    def fail(self, manifest: R, exc: AppError, log: Log) -> R:
        """Record the failure; a manifest that cannot be written (a full disk) does not keep
        Redis and the events from hearing of it."""
        log.error(f"{self._kind.noun}_failed", error_code=str(exc.code), message=exc.message)
        manifest.status = JobStatus.FAILED
        manifest.finished_at = utc_now()
        # The message may quote a name that is not UTF-8, which neither the manifest nor
        # Redis could hold: the failure would crash instead of being recorded.
        error = JobError(
            code=str(exc.code), failure_class=exc.failure_class, message=printable(exc.message)
        )
        manifest.error = error
        self._kind.closing(manifest)
        try:
            self._kind.publish(manifest)
        except AppError as unpublished:  # the local files stay; the manifest still says why
            log.error("files_not_published", error=unpublished.message)
        try:
            self._kind.write(manifest)
        except AppError as unwritable:
            log.error("manifest_not_written", error=unwritable.message)
        # The error goes to Redis too: the API shows its code even when the manifest could
        # not be written.
        job_id = self._kind.job_id(manifest)
        self.settle(job_id, JobStatus.FAILED, error.message, log, error)
        self._kind.announce(manifest)
        return manifest
