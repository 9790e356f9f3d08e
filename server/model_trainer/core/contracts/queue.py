"""The job queue contract: enqueue by function name, ask about workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Capability = Literal["cpu", "cuda"]
"""What a worker must offer to take a job: every worker can serve `cpu`; `cuda` only one
with a CUDA device. Each capability is a queue of its own."""
CAPABILITIES: tuple[Capability, ...] = ("cpu", "cuda")


class JobSpec(BaseModel):
    """One unit of work: a module-level function, its JSON payload, and limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_id: str
    function: str
    payload_json: str
    timeout_s: Annotated[int, Field(ge=1)] = 7 * 24 * 3600
    description: str = ""
    capability: Capability = "cpu"
    """The queue it goes on: `cuda` for a run that asked for `trainer.device: cuda`."""


class QueueSlot(BaseModel):
    """Where a waiting job stands in its capability's queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int
    """0 for the job a worker takes next."""
    length: int
    """Jobs in that queue, this one among them."""


class JobQueue(Protocol):
    """Where orchestrators put work and from where workers take it."""

    def enqueue(self, job: JobSpec) -> None: ...

    def live_workers(self) -> int:
        """Workers that heartbeated recently."""
        ...

    def waiting(self) -> int:
        """Jobs enqueued that no worker has taken yet, on every capability's queue."""
        ...

    def slot(self, capability: Capability, job_ids: Sequence[str]) -> QueueSlot | None:
        """Where the first delivery of any of `job_ids` waits on `capability`'s queue (a
        delivery queued again carries its job's id with a suffix, `<id>-<start>-<time>`);
        None when none waits there."""
        ...

    def executing(self, worker: str) -> list[str]:
        """The ids of the deliveries the named live worker is running now (empty when idle
        or unknown)."""
        ...
