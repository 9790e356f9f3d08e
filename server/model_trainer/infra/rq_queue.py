"""The job queue on RQ: enqueue module-level job functions by dotted name.

One RQ queue per capability: CPU work keeps the base name (so workers and queued jobs of an
installation that had a single queue go on as they were), CUDA work gets `<base>-cuda`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rq import Queue

from model_trainer.core.contracts.queue import CAPABILITIES, Capability, JobSpec, QueueSlot
from model_trainer.infra.redis_store import RedisStore, translate_errors

WORKERS_ALIVE_INDEX = "workers:alive"
"""Sorted set of worker names scored by their last heartbeat (unix seconds)."""

RESULT_TTL_S = 24 * 3600
"""How long RQ keeps a finished job's record; our own state lives in manifests."""
WORKER_EXECUTIONS = "rq:worker:{0}:executions"
"""RQ's set of what one worker is running, as `<job id>:<execution id>` (kept by RQ's own
worker heartbeat; it is gone with the worker)."""


def queue_name_for(base: str, capability: Capability) -> str:
    """The RQ queue of one capability's jobs."""
    return base if capability == "cpu" else f"{base}-{capability}"


class RqJobQueue:
    """`JobQueue` over one RQ queue per capability; liveness comes from our worker
    heartbeats."""

    def __init__(self, store: RedisStore, queue_name: str, worker_ttl_s: float) -> None:
        self._store = store
        self._queues = {
            c: Queue(queue_name_for(queue_name, c), connection=store.client) for c in CAPABILITIES
        }
        self._worker_ttl_s = worker_ttl_s

    def enqueue(self, job: JobSpec) -> None:
        with translate_errors():
            self._queues[job.capability].enqueue(
                job.function,
                job.payload_json,
                job_id=job.job_id,
                job_timeout=job.timeout_s,
                result_ttl=RESULT_TTL_S,
                description=job.description or job.function,
            )

    def waiting(self) -> int:
        with translate_errors():
            return sum(queue.count for queue in self._queues.values())

    def waiting_for(self, capability: Capability) -> int:
        """Jobs waiting on one capability's queue."""
        with translate_errors():
            return self._queues[capability].count

    def slot(self, capability: Capability, job_ids: Sequence[str]) -> QueueSlot | None:
        with translate_errors():
            waiting = self._queues[capability].get_job_ids()  # one LRANGE: ids only
        for index, queued in enumerate(waiting):
            if any(queued == job_id or queued.startswith(f"{job_id}-") for job_id in job_ids):
                return QueueSlot(index=index, length=len(waiting))
        return None

    def executing(self, worker: str) -> list[str]:
        entries = self._store.set_members(WORKER_EXECUTIONS.format(worker))
        return sorted({entry.rpartition(":")[0] or entry for entry in entries})

    def live_workers(self) -> int:
        return self._store.index_count_since(WORKERS_ALIVE_INDEX, time.time() - self._worker_ttl_s)
