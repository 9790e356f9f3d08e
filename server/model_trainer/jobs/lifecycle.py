"""One runner of every job's life, tokenizers and training runs alike.

    read the manifest                      ended: return
    take the lease                         another worker holds it: return
    read the manifest again                gone (deleted): drop the job, write nothing
    fetch from the shared store            (object storage) what the job needs
    in the job's log file, heartbeating:
        read the manifest again            ended, or gone: return
        the cancel flag is up              end `cancelled` before anything runs
        count the start, run the body      (the worker stopping: queue it again instead)
        end it exactly once                completed | cancelled | failed | queued again
    push the closed log to the store, release the lease; after a warm stop, queue it again

Every end is written in one order (`JobEndings`): manifest, then Redis, then events.
"""

from __future__ import annotations

import contextvars
import os
import socket
import threading
from abc import ABC, abstractmethod
from typing import Generic

from model_trainer.core.contracts.queue import Capability, JobQueue
from model_trainer.core.errors import AppError, ErrorCode, FailureClass
from model_trainer.core.job_status import TERMINAL, JobError, JobStatus
from model_trainer.core.logging import Log, job_log_file
from model_trainer.core.settings import WorkerSettings
from model_trainer.infra.atomic import is_storage_fault, storage_error
from model_trainer.infra.backoff import delays, retry_transient
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.infra.storage import storage
from model_trainer.jobs.endings import JobEndings
from model_trainer.jobs.kind import Ending, JobKind, R, Route, on_cpu
from model_trainer.jobs.stopping import WORKER_STOP, StopRequest

WATCH_INTERVAL_S = 0.2
"""How often the lifecycle looks up from a body it may abandon."""
MAX_RETRY_WAIT_S = 60.0
"""The longest wait before a transient failure is retried."""


class JobContext:
    """What a running body may ask of the lifecycle: its log, and whether it lost the lease."""

    def __init__(self, job_id: str, log: Log, lease_lost: threading.Event) -> None:
        self.job_id = job_id
        self.log = log
        self.lease_lost = lease_lost
        """Set once another worker holds the job: stop at once and write nothing more."""


class JobBody(ABC, Generic[R]):
    """The work of one kind of job, between its start and its end."""

    @abstractmethod
    def run(self, manifest: R, job: JobContext) -> Ending:
        """Do the work and say how it ended; raise to fail."""

    def retry(self, manifest: R, error: JobError, limit: int) -> int | None:
        """Note a transient failure to retry from the last checkpoint; returns the retry's
        number, or None when the job must fail instead (nothing to resume from, or `limit`
        retries spent)."""
        return None


class JobLifecycle(Generic[R]):
    """Runs jobs of one kind inside a worker's work horse."""

    def __init__(
        self,
        kind: JobKind[R],
        body: JobBody[R],
        worker: WorkerSettings,
        queue: JobQueue,
        stop: StopRequest = WORKER_STOP,
        route: Route[R] = on_cpu,
    ) -> None:
        self._kind = kind
        self._route = route
        self._body = body
        self._worker = worker
        self._queue = queue
        self._stop = stop
        self._endings = JobEndings(kind)

    def run(self, job_id: str) -> R:
        kind, worker, log = self._kind, self._worker, self._kind.log(job_id)
        manifest = self._read_first(job_id, log)
        if manifest is None:
            raise AppError(kind.missing, f"{kind.noun} {job_id} has no manifest")
        if manifest.status in TERMINAL:
            log.info(f"{kind.noun}_already_ended", status=str(manifest.status))
            return manifest
        owner = f"{socket.gethostname()}.{os.getpid()}"
        ttl = worker.heartbeat_ttl_s
        if not retry_transient(
            lambda: kind.state.acquire_lease(job_id, owner, ttl), "take the lease", log
        ):
            log.warning(f"{kind.noun}_leased_elsewhere", owner=owner)  # another worker has it
            return manifest
        requeued, fetched = False, False
        try:
            # The heartbeat keeps the lease while the inputs download (a checkpoint may take
            # longer than the lease lives); the log opens after, as the store had it.
            with kind.state.heartbeat(
                job_id, worker.heartbeat_interval_s, ttl, log, owner
            ) as lease_lost:
                fetched = self._still_there(job_id, log) and self._fetch(job_id, manifest, log)
                if fetched:
                    with job_log_file(kind.folder(job_id).logs):
                        # Again under the lease: a cancel may have ended it while queued
                        fresh = kind.read(job_id)
                        if fresh is None:  # never started again from the copy read before
                            log.warning(f"{kind.noun}_deleted", when="under the lease")
                            fetched = False  # nor its log pushed: nothing of it comes back
                        else:
                            manifest = fresh
                            job = JobContext(job_id, log, lease_lost)
                            requeued = self._start(manifest, job, owner)
        finally:
            if fetched:
                self._push_log(job_id, log)
            try:
                kind.state.release_lease(job_id, owner)
            except RedisUnavailable as exc:  # it lapses with its TTL anyway
                log.warning("lease_not_released", error=exc.message)
        if requeued:
            # Only now: a delivery that found the lease still held would return, and the
            # job would wait for nobody.
            self._deliver_again(job_id, self._route(manifest), log)
        return manifest

    def _read_first(self, job_id: str, log: Log) -> R | None:
        """The manifest before the lease; a store that does not answer leaves the job
        `stalled`, which the reconcilers deliver again (a queued job waits for nobody)."""
        try:
            return self._kind.read(job_id)
        except AppError as exc:
            if exc.code is not ErrorCode.STORE_UNAVAILABLE:
                raise
            log.error(f"{self._kind.noun}_not_started", error_code=str(exc.code))
            self._stall(job_id, exc, log)
            raise

    def _still_there(self, job_id: str, log: Log) -> bool:
        """Whether the job still has a manifest, read under the lease (a deletion holds a
        job's lease while it removes it, and refuses a run whose evaluation waits, so one
        that is gone now stays gone). With a shared store its copy must be there too: this
        host's may be all that is left of a job deleted elsewhere. A deleted job is
        dropped: nothing of it is written, so nothing of it comes back. False, with the job
        left `stalled`, when the store does not answer."""
        try:
            present = self._kind.read(job_id) is not None and self._stored(job_id)
        except AppError as exc:
            if exc.code is not ErrorCode.STORE_UNAVAILABLE:
                raise
            log.error(f"{self._kind.noun}_not_started", error_code=str(exc.code))
            self._stall(job_id, exc, log)
            return False
        if not present:
            log.warning(f"{self._kind.noun}_deleted", when="before it started")
        return present

    def _stored(self, job_id: str) -> bool:
        """The shared store still holds the job's manifest (every job's is pushed before
        it is queued); always true for a local folder, the record itself."""
        store = storage()
        if not store.shared:
            return True
        folder = self._kind.folder(job_id)
        listed = store.listing(folder.path) or []
        return folder.relative(folder.manifest) in {name for name, _ in listed}

    def _fetch(self, job_id: str, manifest: R, log: Log) -> bool:
        """What the job needs from the shared store; False when the store does not answer:
        the job is left `stalled` (nothing of it is failed or written), and the reconcilers
        deliver it again once its lease lapses, as when its worker died."""
        try:
            self._kind.fetch(manifest)
        except AppError as exc:
            if exc.code is not ErrorCode.STORE_UNAVAILABLE:  # its input is gone: that is final
                self._endings.fail(manifest, exc, log)
                return False
            log.error(f"{self._kind.noun}_inputs_not_fetched", error_code=str(exc.code))
            self._stall(job_id, exc, log)
            return False
        return True

    def _stall(self, job_id: str, exc: AppError, log: Log) -> None:
        """Show the job `stalled` with why: the reconcilers deliver it again."""
        try:
            self._kind.state.set_status(job_id, JobStatus.STALLED, exc.message)
        except RedisUnavailable as unavailable:
            log.error("status_not_stored", error=unavailable.message)

    def _push_log(self, job_id: str, log: Log) -> None:
        """The job's log once closed: its last lines (how it ended) reach the store too."""
        try:
            storage().push([self._kind.folder(job_id).logs])
        except AppError as exc:
            log.error("log_not_published", error_code=str(exc.code), message=exc.message)

    def _start(self, manifest: R, job: JobContext, owner: str) -> bool:
        """Start the job unless it ended or was cancelled; True when it was queued again."""
        kind, log, job_id = self._kind, job.log, job.job_id
        if manifest.status in TERMINAL:
            log.info(f"{kind.noun}_already_ended", status=str(manifest.status))
            return False
        if retry_transient(lambda: kind.state.is_cancelled(job_id), "read the cancel flag", log):
            self._endings.cancel_unstarted(manifest, log)
            return False
        attempt = retry_transient(lambda: kind.state.next_attempt(job_id), "count the start", log)
        log.info(f"{kind.noun}_job_started", attempt=attempt, owner=owner)
        ending = self._run_body(manifest, job)
        if ending is not None and ending.requeued:
            try:  # a warm stop is no death: it does not count against max_attempts
                kind.state.forget_attempt(job_id)
            except RedisUnavailable as exc:
                log.warning("attempt_not_forgotten", error=exc.message)
            return True
        return False

    def _run_body(self, manifest: R, job: JobContext) -> Ending | None:
        """The body, then its one ending; None when it failed or was left to another worker.
        TRANSIENT failures are retried (by a body that can resume) after a growing wait."""
        kind, log = self._kind, job.log
        waits = delays(first_s=self._worker.retry_backoff_s, max_s=MAX_RETRY_WAIT_S)
        while True:
            try:
                ending = self._perform(manifest, job)
                self._endings.end(manifest, ending, log)
                return ending
            except AppError as exc:
                if exc.code is ErrorCode.LEASE_LOST:
                    log.error(f"{kind.noun}_abandoned_to_other_worker", message=exc.message)
                    return None
                transient = exc.failure_class is FailureClass.TRANSIENT and kind.resumes
                if transient and self._retry(manifest, exc, next(waits), job):
                    continue
                self._endings.fail(manifest, exc, log)
                return None
            except Exception as exc:
                if isinstance(exc, OSError) and is_storage_fault(exc):
                    error = storage_error(exc, f"{kind.noun} {job.job_id}")
                    self._endings.fail(manifest, error, log)
                    return None
                log.exception(f"{kind.noun}_crashed", error_code=str(ErrorCode.INTERNAL_ERROR))
                error = AppError(ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
                self._endings.fail(manifest, error, log)
                raise

    def _perform(self, manifest: R, job: JobContext) -> Ending:
        if self._stop.requested():  # stopped before (or between retries of) this start
            return self._requeue(manifest)
        if self._kind.resumes:
            return self._body.run(manifest, job)  # stops warm itself, after its next step
        return self._abandonable(manifest, job)

    def _requeue(self, manifest: R) -> Ending:
        message = self._kind.requeued(manifest, self._stop.reason)
        return Ending(status=JobStatus.QUEUED, message=message)

    def _abandonable(self, manifest: R, job: JobContext) -> Ending:
        """Run a body that starts over anyway in a thread, and abandon it when the worker is
        stopping or another worker took the job: its native calls cannot be interrupted,
        and nothing it has done is worth waiting for (the process ends soon after)."""
        outcome: list[Ending] = []
        failure: list[BaseException] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(self._body.run(manifest, job))
            except BaseException as exc:  # noqa: BLE001 - raised again in the lifecycle's thread
                failure.append(exc)
            finally:
                done.set()

        context = contextvars.copy_context()  # the job's log file and bound fields
        name = f"job-{job.job_id}"
        threading.Thread(target=lambda: context.run(work), name=name, daemon=True).start()
        while not done.wait(WATCH_INTERVAL_S):
            if job.lease_lost.is_set():
                held = f"{self._kind.noun} {job.job_id} is held by another worker"
                raise AppError(ErrorCode.LEASE_LOST, held)
            if self._stop.requested():
                job.log.warning(f"{self._kind.noun}_abandoned", reason=self._stop.reason)
                return self._requeue(manifest)
        if failure:
            raise failure[0]
        return outcome[0]

    def _retry(self, manifest: R, exc: AppError, delay: float, job: JobContext) -> bool:
        """Record the transient error (manifest, then Redis) and wait; False when the job
        must fail instead."""
        kind, limit = self._kind, self._worker.transient_retries
        count = self._body.retry(manifest, JobError.of(exc), limit)
        if count is None:
            return False
        message = (
            f"retry {count} of {limit} in {delay:.0f} s after a transient error: {exc.message}"
        )
        job.log.warning(f"{kind.noun}_retrying", retry=count, delay_s=delay, error=exc.message)
        try:
            kind.write(manifest)
        except AppError as unwritten:  # the store away: the retry goes on, the next write says
            job.log.error("manifest_not_written", error=unwritten.message)
        try:
            kind.state.set_status(job.job_id, JobStatus.RUNNING, message)
        except RedisUnavailable as unavailable:
            job.log.warning("status_not_stored", error=unavailable.message)
        self._stop.wait(delay)  # a worker stopping meanwhile queues the job again at once
        return True

    def _deliver_again(self, job_id: str, capability: Capability, log: Log) -> None:
        """Back on the queue it came from, for a worker that serves what it needs."""
        spec = self._kind.job_spec(job_id, "w", "pick up after a warm stop", capability)
        try:
            retry_transient(lambda: self._queue.enqueue(spec), "queue the job again", log)
        except AppError as exc:
            # Without a delivery it would wait forever: stalled, the reconciler queues it
            log.error("requeue_failed", error=exc.message)
            try:
                self._kind.state.set_status(job_id, JobStatus.STALLED, "requeue failed")
            except RedisUnavailable:
                pass  # Redis is gone: the start-up scan adopts it from its manifest
