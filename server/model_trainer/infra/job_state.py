"""Live job state in Redis: status, message and heartbeat per job, plus a newest-first index.

Keys follow the seed's shape, e.g. `runs:status:<id>`, `runs:msg:<id>`, `runs:hb:<id>`,
`runs:<id>:cancelled`, with `tokenizers:` for tokenizer jobs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from model_trainer.core.job_status import TERMINAL, JobError, JobStatus
from model_trainer.core.logging import Log
from model_trainer.infra.redis_store import RedisStore, RedisUnavailable

LEASE_WAIT_S = 5.0
"""How long an API request waits for a job's lease that its worker is about to release."""
CANCEL_FLAG_TTL_S = 7 * 24 * 3600.0
"""A cancellation request outlives any plausible queue wait, then cleans itself up."""

_KNOWN = frozenset(s.value for s in JobStatus)


class JobSnapshot:
    """Status, message, heartbeat and progress (JSON) of one job as Redis knows them."""

    def __init__(
        self,
        status: JobStatus | None,
        message: str | None,
        heartbeat: float | None,
        progress: str | None = None,
        error: JobError | None = None,
    ):
        self.status = status
        self.message = message
        self.heartbeat = heartbeat
        self.progress = progress
        self.error = error
        """Why it failed, for when the manifest could not say so (a full disk)."""

    def shown_over(
        self, recorded: JobStatus, error: JobError | None
    ) -> tuple[JobStatus, JobError | None]:
        """The status and error to show for a job whose manifest records `recorded` and
        `error`: the manifest once it says the job ended; before that Redis knows better (the
        worker updates it first), and a running job without a heartbeat is stalled (a live
        worker will start it again)."""
        if recorded in TERMINAL or self.status is None:
            return recorded, error
        if self.status is JobStatus.FAILED and error is None:
            return self.status, self.error  # the manifest could not be written
        if self.status is JobStatus.RUNNING and self.heartbeat is None:
            return JobStatus.STALLED, error
        return self.status, error


class JobStateStore:
    """Reads and writes the live state of one kind of job (`runs` or `tokenizers`)."""

    def __init__(self, store: RedisStore, kind: str) -> None:
        self._store = store
        self.kind = kind

    def _key(self, field: str, job_id: str) -> str:
        return f"{self.kind}:{field}:{job_id}"

    @property
    def index(self) -> str:
        return f"{self.kind}:index"

    @property
    def active_set(self) -> str:
        return f"{self.kind}:active"

    def create(self, job_id: str, created_at: float) -> None:
        self._store.set(self._key("status", job_id), JobStatus.QUEUED)
        self._store.index_add(self.index, job_id, created_at)
        self._store.set_add(self.active_set, job_id)

    def set_status(
        self,
        job_id: str,
        status: JobStatus,
        message: str | None = None,
        error: JobError | None = None,
    ) -> None:
        values = {self._key("status", job_id): str(status)}
        if message is not None:
            values[self._key("msg", job_id)] = message
        if error is not None:
            values[self._key("err", job_id)] = error.model_dump_json()
        self._store.set_many(values)
        if status in TERMINAL:
            self._store.set_remove(self.active_set, job_id)
        else:
            self._store.set_add(self.active_set, job_id)

    def start_again(self, job_id: str, created_at: float, message: str, progress_json: str) -> None:
        """An ended job queued again under its id: queued with `message`, its cancel flag
        down, its failure and its count of starts forgotten (a new budget of starts), and
        listed where it was (Redis may have forgotten it meanwhile)."""
        self._store.delete(
            self._key("err", job_id),
            self._key("attempts", job_id),
            f"{self.kind}:{job_id}:cancelled",
        )
        self.set_status(job_id, JobStatus.QUEUED, message)
        self.set_progress(job_id, progress_json)
        self._store.index_add(self.index, job_id, created_at)

    def active(self) -> list[str]:
        """Jobs not yet ended (queued, running or stalled)."""
        return self._store.set_members(self.active_set)

    def acquire_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        """Only one worker at a time may hold a job's lease; it lapses with the heartbeat."""
        return self._store.set_if_absent(self._key("lease", job_id), owner, ttl_s)

    def acquire_lease_soon(
        self, job_id: str, owner: str, ttl_s: float, wait_s: float = LEASE_WAIT_S
    ) -> bool:
        """`acquire_lease`, waiting up to `wait_s` for a holder that is letting go: a worker
        releases a job's lease just after recording its end, so a request made the moment a
        client sees the end meets it still held."""
        deadline = time.monotonic() + wait_s
        while not self.acquire_lease(job_id, owner, ttl_s):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def refresh_lease(self, job_id: str, owner: str, ttl_s: float) -> bool:
        return self._store.refresh_if_owner(self._key("lease", job_id), owner, ttl_s)

    def release_lease(self, job_id: str, owner: str) -> None:
        self._store.delete_if_owner(self._key("lease", job_id), owner)

    def attempts(self, job_id: str) -> int:
        """How many times the job has started so far."""
        return int(self._store.get(self._key("attempts", job_id)) or 0)

    def next_attempt(self, job_id: str) -> int:
        """Count one more start of this job (1 for the first)."""
        return self._store.incr(self._key("attempts", job_id))

    def forget_attempt(self, job_id: str) -> None:
        """Uncount the latest start: its worker was stopped on purpose, it did not die."""
        self._store.decr(self._key("attempts", job_id))

    def beat(self, job_id: str, ttl_s: float) -> None:
        self._store.set(self._key("hb", job_id), f"{time.time():.3f}", ttl_s)

    def snapshot(self, job_id: str) -> JobSnapshot:
        """Everything live about a job in one round trip (the API asks on every poll)."""
        fields = ("status", "msg", "hb", "progress", "err")
        status, message, beat, progress, error = self._store.mget(
            [self._key(f, job_id) for f in fields]
        )
        return JobSnapshot(
            JobStatus(status) if status is not None and status in _KNOWN else None,
            message,
            float(beat) if beat else None,
            progress,
            _error(error),
        )

    def request_cancel(self, job_id: str) -> None:
        """Raise the flag the job checks between steps (`runs:<id>:cancelled`)."""
        self._store.set(f"{self.kind}:{job_id}:cancelled", "1", CANCEL_FLAG_TTL_S)

    def is_cancelled(self, job_id: str) -> bool:
        return self._store.exists(f"{self.kind}:{job_id}:cancelled")

    def set_progress(self, job_id: str, progress_json: str) -> None:
        self._store.set(self._key("progress", job_id), progress_json)

    def progress(self, job_id: str) -> str | None:
        return self._store.get(self._key("progress", job_id))

    def newest(self, limit: int) -> list[str]:
        return self._store.index_newest(self.index, limit)

    def forget(self, job_id: str) -> None:
        """Remove every key of the job, and the job from the index and the active set (a
        deleted job); its lease goes last, as its holder releases it."""
        fields = ("status", "msg", "hb", "progress", "err", "attempts")
        self._store.delete(*(self._key(f, job_id) for f in fields))
        self._store.delete(f"{self.kind}:{job_id}:cancelled")
        self._store.index_remove(self.index, job_id)
        self._store.set_remove(self.active_set, job_id)

    @contextmanager
    def heartbeat(
        self, job_id: str, interval_s: float, ttl_s: float, log: Log, lease_owner: str = ""
    ) -> Iterator[threading.Event]:
        """Refresh the heartbeat (and our lease) from a thread while the block runs; the
        event it yields is set once another worker holds the lease (we must stop)."""
        stop, lost = threading.Event(), threading.Event()

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.beat(job_id, ttl_s)
                    if lease_owner and not self.refresh_lease(job_id, lease_owner, ttl_s):
                        # Redis forgot it (restart): take it back unless someone else holds it
                        if not self.acquire_lease(job_id, lease_owner, ttl_s):
                            log.error("lease_lost", owner=lease_owner)
                            lost.set()
                except RedisUnavailable as exc:
                    log.warning("heartbeat_failed", error=str(exc))
                stop.wait(interval_s)

        thread = threading.Thread(target=loop, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield lost
        finally:
            stop.set()
            thread.join(timeout=interval_s + 1)


def _error(raw: str | None) -> JobError | None:
    if raw is None:
        return None
    try:
        return JobError.model_validate_json(raw)
    except ValidationError:
        return None  # written by another version: the manifest is the record anyway
