"""`/runs`: start, watch, cancel, evaluate and sample training runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse

from model_trainer.api.deps import EvaluationsDep, GenerationPoolDep, RunLogsDep, RunsDep
from model_trainer.api.routes.log_stream import (
    LastEventId,
    log_stream,
    resume_after,
    stream_responses,
)
from model_trainer.api.schemas.common import BODY_ERRORS, error_responses
from model_trainer.api.schemas.runs import (
    EvalPublic,
    EvalQueued,
    EvaluateRequest,
    GeneratePublic,
    GenerateRequest,
    LogsPublic,
    MetricsPublic,
    RunCreate,
    RunEstimatePublic,
    RunPublic,
    RunQueued,
    RunsPublic,
)
from model_trainer.core.request_model import MAX_RECORD_OFFSET
from model_trainer.training.config import EvalRequest
from model_trainer.training.inference.generation import Generation


def start_run(body: RunCreate, runs: RunsDep) -> RunQueued:
    """Queue a training run and return its id at once."""
    manifest = runs.enqueue_training(body)
    return RunQueued(run_id=manifest.run_id, status=manifest.status)


def estimate_run(body: RunCreate, runs: RunsDep) -> RunEstimatePublic:
    """What a run body would make and need, judged as `POST /runs/train` judges it, with
    nothing recorded or queued: its architecture, parameters, FLOPs per token, memory
    against the budget, and whether a live worker can take it (`fits`, else `code` and
    `reason`). A body that names no usable tokenizer, corpus, family or size is refused as
    a submission is."""
    return RunEstimatePublic.from_estimate(runs.estimate(body))


def list_runs(runs: RunsDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> RunsPublic:
    """Runs, newest first."""
    data = [RunPublic.from_view(v) for v in runs.newest(limit)]
    return RunsPublic(data=data, count=len(data))


def get_run(run_id: str, runs: RunsDep) -> RunPublic:
    """Status, message, last heartbeat, progress and latest metrics."""
    return RunPublic.from_view(runs.get(run_id))


def get_metrics(
    run_id: str,
    runs: RunsDep,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_RECORD_OFFSET,
            description="Skip the first `after` records (a previous `next_after`)",
        ),
    ] = 0,
) -> MetricsPublic:
    """Logged steps and evaluations in order, after the first `after` (charts append)."""
    data, next_after = runs.metrics(run_id, after)
    return MetricsPublic(
        run_id=run_id, data=data, count=len(data), after=after, next_after=next_after
    )


def get_logs(
    run_id: str, runs: RunsDep, tail: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> LogsPublic:
    """The last `tail` lines of the run's log."""
    lines = runs.log_tail(run_id, tail)
    return LogsPublic(run_id=run_id, lines=lines, count=len(lines))


def stream_logs(
    run_id: str, runs: RunsDep, logs: RunLogsDep, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Server-sent events, one per log line; `Last-Event-ID` resumes after that line."""
    return log_stream(logs.follow(run_id, runs.log_path(run_id), resume_after(last_event_id)))


def cancel_run(run_id: str, runs: RunsDep) -> RunPublic:
    """Ask the run to stop; it saves a checkpoint and ends `cancelled`."""
    return RunPublic.from_view(runs.cancel(run_id))


def evaluate_run(
    run_id: str, evaluations: EvaluationsDep, body: EvaluateRequest | None = None
) -> EvalQueued:
    """Queue an evaluation of a completed run; follow it at `GET /runs/{id}/eval`."""
    request = body or EvaluateRequest()
    manifest = evaluations.enqueue(
        EvalRequest(run_id=run_id, split=request.split, corpus_path=request.corpus_path)
    )
    return EvalQueued(run_id=run_id, status=manifest.status, eval_id=manifest.eval_id)


def get_eval(run_id: str, evaluations: EvaluationsDep) -> EvalPublic:
    """The latest evaluation: queued, running, failed (with its error), or completed with
    its metrics and samples."""
    return EvalPublic.from_view(evaluations.latest(run_id))


async def generate(
    run_id: str, body: GenerateRequest, runs: RunsDep, pool: GenerationPoolDep, request: Request
) -> GeneratePublic:
    """Sample from the run's exported model (on the API's small generation pool; 503 with
    `Retry-After` when it is full; models cached)."""

    def start() -> Generation:
        return runs.generate(
            run_id, body.prompt, body.max_new_tokens, body.temperature, body.top_k, body.seed
        )

    # Uvicorn does not cancel a handler whose client left: the pool asks between slices.
    sampled = await pool.run_sliced(start, request.is_disconnected)
    text, ids = sampled  # unpacked apart: mypy sees Any in `a, b = await`
    return GeneratePublic(run_id=run_id, prompt=body.prompt, text=text, ids=ids, count=len(ids))


# Every route may answer 401 (API key), 422 (parameters), 500 and 503 (Redis); the rest are
# declared per route so the schema lists what each one can answer.
router = APIRouter(prefix="/runs", tags=["runs"], responses=error_responses(401, 422, 500, 503))
router.add_api_route(
    "/train",
    start_run,
    methods=["POST"],
    status_code=202,
    operation_id="runs-train",
    responses=error_responses(*BODY_ERRORS, 404, 409, 429, 507),
)
router.add_api_route(
    "/estimate",
    estimate_run,
    methods=["POST"],
    operation_id="runs-estimate",
    responses=error_responses(*BODY_ERRORS, 404, 409),
)
router.add_api_route("", list_runs, methods=["GET"], operation_id="runs-list")
router.add_api_route(
    "/{run_id}", get_run, methods=["GET"], operation_id="runs-get", responses=error_responses(404)
)
router.add_api_route(
    "/{run_id}/metrics",
    get_metrics,
    methods=["GET"],
    operation_id="runs-metrics",
    responses=error_responses(404),
)
router.add_api_route(
    "/{run_id}/logs",
    get_logs,
    methods=["GET"],
    operation_id="runs-logs",
    responses=error_responses(404),
)
router.add_api_route(
    "/{run_id}/logs/stream",
    stream_logs,
    methods=["GET"],
    operation_id="runs-logs-stream",
    # Not JSON: FastAPI then leaves the 200 to `responses` (EventSourceResponse's own type
    # carries `Any`; it is what the route returns all the same).
    response_class=StreamingResponse,
    responses=stream_responses("run"),
)
router.add_api_route(
    "/{run_id}/cancel",
    cancel_run,
    methods=["POST"],
    operation_id="runs-cancel",
    responses=error_responses(404, 409),
)
router.add_api_route(
    "/{run_id}/evaluate",
    evaluate_run,
    methods=["POST"],
    status_code=202,
    operation_id="runs-evaluate",
    responses=error_responses(*BODY_ERRORS, 404, 409, 429),
)
router.add_api_route(
    "/{run_id}/eval",
    get_eval,
    methods=["GET"],
    operation_id="runs-eval",
    responses=error_responses(400, 404),
)
router.add_api_route(
    "/{run_id}/generate",
    generate,
    methods=["POST"],
    operation_id="runs-generate",
    responses=error_responses(*BODY_ERRORS, 404, 409),
)
