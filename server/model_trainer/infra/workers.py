"""What each live worker can offer a run (memory, devices, the queues it serves), as the
worker itself reports it.

Each worker's maintenance thread writes its capacity to `workers:info:<name>` with a short
TTL; the API reads the live ones to refuse, before queueing, what no worker could run (a
model that fits no worker's memory), to say why a CUDA run waits (no live worker serves
`cuda`), and to count workers by capability.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.core.contracts.queue import Capability
from model_trainer.core.logging import Log
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX

DeviceKind = Literal["cpu", "cuda", "mps"]

_log = Log("worker")


class DeviceCapacity(BaseModel):
    """One device a worker can train on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DeviceKind
    name: str
    memory_bytes: int


class WorkerCapacity(BaseModel):
    """A worker's name, its RAM and its devices (the CPU always among them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    memory_bytes: int
    threads: int
    devices: list[DeviceCapacity]
    peak_flops: dict[str, float] = {}
    """Matmul FLOP/s measured at the worker's start, by `<device>-<precision>` (`cpu-fp32`,
    `cuda-bf16`, ...); empty when it could not measure."""
    serves: list[Capability] = ["cpu"]
    """The capabilities whose queues it takes jobs from (a worker that does not say is one
    from before there were several, listening on the base queue: `cpu`)."""

    def offers(self, kind: DeviceKind) -> DeviceCapacity | None:
        return next((d for d in self.devices if d.kind == kind), None)

    def best_device(self) -> DeviceCapacity:
        """Where `trainer.device: auto` would train on this worker (CUDA, MPS, then CPU)."""
        for kind in ("cuda", "mps"):
            device = self.offers(kind)
            if device is not None:
                return device
        return DeviceCapacity(kind="cpu", name="cpu", memory_bytes=self.memory_bytes)


def _key(name: str) -> str:
    return f"workers:info:{name}"


class WorkerDirectory:
    """Workers' capacities in Redis: written by each worker, read by the API."""

    def __init__(self, store: RedisStore, ttl_s: float) -> None:
        self._store = store
        self._ttl_s = ttl_s

    def publish(self, capacity: WorkerCapacity) -> None:
        self._store.set(_key(capacity.name), capacity.model_dump_json(), self._ttl_s)

    def serving(self, capability: Capability) -> list[WorkerCapacity]:
        """The live workers that take jobs from `capability`'s queue."""
        return [w for w in self.live() if capability in w.serves]

    def live(self) -> list[WorkerCapacity]:
        """Capacities of the workers that heartbeated within the TTL."""
        names = self._store.index_members_since(WORKERS_ALIVE_INDEX, time.time() - self._ttl_s)
        found: list[WorkerCapacity] = []
        for name, raw in zip(names, self._store.mget([_key(n) for n in names]), strict=True):
            if raw is None:
                continue  # alive, but has not said what it offers yet (an older worker)
            try:
                found.append(WorkerCapacity.model_validate_json(raw))
            except ValidationError:
                _log.warning("worker_capacity_unreadable", worker=name)
        return found
