"""`/workers`: the live workers, what each is doing, and its machine's use over the last hour."""

from __future__ import annotations

from fastapi import APIRouter

from model_trainer.api.deps import RedisDep, WorkersDep
from model_trainer.api.schemas.common import GUARDED, error_responses
from model_trainer.api.schemas.workers import WorkerPublic, WorkersPublic
from model_trainer.infra.resources import ResourceHistory
from model_trainer.infra.workers import WorkerCapacity


def _name(worker: WorkerCapacity) -> str:
    return worker.name


def list_workers(directory: WorkersDep, redis: RedisDep) -> WorkersPublic:
    """Every worker that heartbeated lately, by name, with its samples (a plain `def`:
    Redis is asked from FastAPI's thread pool, not on the event loop)."""
    live = sorted(directory.live(), key=_name)
    records = ResourceHistory(redis).read([w.name for w in live])
    data = [WorkerPublic.of(w, r) for w, r in zip(live, records, strict=True)]
    return WorkersPublic(data=data, count=len(data))


router = APIRouter(
    prefix="/workers", tags=["workers"], responses=error_responses(*GUARDED, 500, 503)
)
router.add_api_route("", list_workers, methods=["GET"], operation_id="workers-list")
