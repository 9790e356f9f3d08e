"""Where a waiting job stands in its queue, and what it waits for, in words.

A job waits on its capability's queue (`cpu` or `cuda`) until a worker that serves it is
free. Its place comes from the queue's job ids (one read of a list); what it waits for comes
from the live workers: none at all, none that serves its queue, or all of them busy (and
with what).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.contracts.queue import Capability, JobQueue
from model_trainer.infra.workers import WorkerCapacity, WorkerDirectory

_JOB_ID = re.compile(r"[a-z]{3}-[0-9a-z]{8}-[0-9a-f]{8}")
"""An id we make (`core.ids`): three parts joined by `-`."""
BUSY_NAMED = 3
"""Jobs named in "busy with ..."; more are counted."""


class QueuePlace(BaseModel):
    """A waiting job's place in its queue."""

    model_config = ConfigDict(extra="forbid")

    position: Annotated[int, Field(ge=1, description="1 for the job a worker takes next")]
    ahead: Annotated[int, Field(ge=0, description="Jobs ahead of it in its queue")]
    waiting_for: Annotated[
        str,
        Field(
            description="What it waits for, in words: a free worker (how many are live, "
            "and what they are busy with), or a worker that serves its queue when none runs"
        ),
    ]


def unserved(live: Sequence[WorkerCapacity], capability: Capability) -> str | None:
    """Words for a queue that no live worker serves ("a worker that serves cuda; none is
    running"); None when one does."""
    if any(capability in worker.serves for worker in live):
        return None
    return f"a worker that serves {capability}; none is running"


def job_name(delivery: str) -> str:
    """The job a delivery's id names: `<id>`, `<id>-<start>-<time>` when delivered again,
    and for an evaluation `<run id>_<evl id>` (named by its own id)."""
    named = "-".join(delivery.rpartition("_")[2].split("-")[:3])
    return named if _JOB_ID.fullmatch(named) is not None else delivery


class QueuePlaces:
    """Answers where a waiting job stands, for the runs, tokenizers and evaluations views."""

    def __init__(self, queue: JobQueue, workers: WorkerDirectory) -> None:
        self._queue = queue
        self._workers = workers

    def of(self, capability: Capability, job_ids: Sequence[str]) -> QueuePlace | None:
        """The place of the first delivery of any of `job_ids` on `capability`'s queue; None
        when none waits there (a worker just took it, or it is being delivered again)."""
        slot = self._queue.slot(capability, job_ids)
        if slot is None:
            return None
        return QueuePlace(
            position=slot.index + 1, ahead=slot.index, waiting_for=self.waiting_for(capability)
        )

    def waiting_for(self, capability: Capability) -> str:
        """What a job on `capability`'s queue waits for, from the live workers."""
        live = self._workers.live()
        if not live:
            return "a worker; none is running"
        nobody = unserved(live, capability)
        if nobody is not None:
            return nobody
        serving = [worker for worker in live if capability in worker.serves]
        running = {worker.name: self._queue.executing(worker.name) for worker in serving}
        idle = sum(1 for jobs in running.values() if not jobs)
        count = f"{len(serving)} live"
        if idle:
            # Taken at the worker's next look at the queue (or after the jobs ahead).
            return f"a worker to take it ({count}, {idle} idle)"
        busy = sorted({job_name(job) for jobs in running.values() for job in jobs})
        named = ", ".join(busy[:BUSY_NAMED])
        more = f" and {len(busy) - BUSY_NAMED} more" if len(busy) > BUSY_NAMED else ""
        return f"a free worker ({count}, busy with {named}{more})"
