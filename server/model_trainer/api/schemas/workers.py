"""`/workers` bodies: each live worker, what it serves and does, and its machine's last hour."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from model_trainer.core.contracts.queue import Capability
from model_trainer.infra.resources import ResourceSample, WorkerActivity, WorkerRecord
from model_trainer.infra.workers import DeviceCapacity, WorkerCapacity


class WorkerPublic(BaseModel):
    """One live worker. `state` is `unknown` until it has said (the first seconds after
    its start, or a worker of an older version); `resources` holds its samples of the last
    hour, oldest first (one every `WORKER__RESOURCE_INTERVAL_S`, 10 s by default)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    host: str
    pid: int | None
    serves: list[Capability]
    state: Literal["idle", "busy", "stopping", "unknown"]
    current_job: str | None
    """The run, tokenizer or evaluation it is running."""
    since: float | None
    """When it entered `state`, in Unix seconds."""
    threads: int
    memory_bytes: int
    devices: list[DeviceCapacity]
    peak_flops: dict[str, float]
    resources: list[ResourceSample]

    @classmethod
    def of(cls, capacity: WorkerCapacity, record: WorkerRecord) -> WorkerPublic:
        activity: WorkerActivity | None = record.activity
        return cls(
            name=capacity.name,
            # A worker's name is `<host>.<pid>`; hosts may hold dots, pids do not
            host=activity.host if activity else capacity.name.rpartition(".")[0],
            pid=activity.pid if activity else None,
            serves=list(capacity.serves),
            state=activity.state if activity else "unknown",
            current_job=activity.current_job if activity else None,
            since=activity.since if activity else None,
            threads=capacity.threads,
            memory_bytes=capacity.memory_bytes,
            devices=list(capacity.devices),
            peak_flops=dict(capacity.peak_flops),
            resources=record.resources,
        )


class WorkersPublic(BaseModel):
    """The live workers, by name."""

    model_config = ConfigDict(extra="forbid")

    data: list[WorkerPublic]
    count: int
