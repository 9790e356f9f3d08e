"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from model_trainer.api.deps import QueueDep, RedisDep, WorkersDep
from model_trainer.api.schemas.common import (
    GUARDED,
    CapabilityCounts,
    Health,
    LiveWorker,
    error_responses,
)
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.redis_store import RedisUnavailable, redact_url
from model_trainer.infra.workers import WorkerCapacity


async def healthz() -> Health:
    """The process is up; says nothing about its dependencies (on the event loop itself, so
    it answers even when every thread of the pool is busy)."""
    return Health(status="ok")


def readyz(redis: RedisDep, queue: QueueDep, directory: WorkersDep) -> Health:
    """Redis answers and at least one worker heartbeated recently (503 with the reason if
    not); with the live workers by the capabilities (`cpu`, `cuda`) whose queues they serve."""
    if not redis.ping():
        raise AppError(
            ErrorCode.NOT_READY,
            "the queue is unavailable (Redis does not answer)",
            f"Redis at {redact_url(redis.url)} does not answer",
        )
    try:
        workers = queue.live_workers()
        live = directory.live()
    except RedisUnavailable as exc:
        raise AppError(ErrorCode.NOT_READY, exc.message, exc.detail) from exc
    if workers < 1:
        raise AppError(ErrorCode.NOT_READY, "no live worker: start one with `model-trainer worker`")
    return Health(
        status="ready",
        redis=True,
        workers=workers,
        capabilities=CapabilityCounts(
            cpu=sum("cpu" in w.serves for w in live), cuda=sum("cuda" in w.serves for w in live)
        ),
        live_workers=[_public(w) for w in sorted(live, key=_name)],
    )


def _name(worker: WorkerCapacity) -> str:
    return worker.name


def _public(worker: WorkerCapacity) -> LiveWorker:
    return LiveWorker(
        name=worker.name, serves=list(worker.serves), devices=[d.kind for d in worker.devices]
    )


# Routes are added without decorators: FastAPI's decorator types carry `Any`.
router = APIRouter(tags=["health"])
router.add_api_route("/healthz", healthz, methods=["GET"], operation_id="health-healthz")
router.add_api_route(
    "/readyz",
    readyz,
    methods=["GET"],
    operation_id="health-readyz",
    responses=error_responses(*GUARDED, 500, 503),
)
