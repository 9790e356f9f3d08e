"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from model_trainer.api.deps import QueueDep, RedisDep
from model_trainer.api.schemas.common import Health, error_responses
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.infra.redis_store import RedisUnavailable, redact_url


async def healthz() -> Health:
    """The process is up; says nothing about its dependencies (on the event loop itself, so
    it answers even when every thread of the pool is busy)."""
    return Health(status="ok")


def readyz(redis: RedisDep, queue: QueueDep) -> Health:
    """Redis answers and at least one worker heartbeated recently (503 with the reason if not)."""
    if not redis.ping():
        raise AppError(
            ErrorCode.NOT_READY,
            "the queue is unavailable (Redis does not answer)",
            f"Redis at {redact_url(redis.url)} does not answer",
        )
    try:
        workers = queue.live_workers()
    except RedisUnavailable as exc:
        raise AppError(ErrorCode.NOT_READY, exc.message, exc.detail) from exc
    if workers < 1:
        raise AppError(ErrorCode.NOT_READY, "no live worker: start one with `model-trainer worker`")
    return Health(status="ready", redis=True, workers=workers)


# Routes are added without decorators: FastAPI's decorator types carry `Any`.
router = APIRouter(tags=["health"])
router.add_api_route("/healthz", healthz, methods=["GET"], operation_id="health-healthz")
router.add_api_route(
    "/readyz",
    readyz,
    methods=["GET"],
    operation_id="health-readyz",
    responses=error_responses(401, 500, 503),
)
