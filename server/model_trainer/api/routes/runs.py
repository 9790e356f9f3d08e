"""`/runs`: start, watch, cancel, evaluate and sample training runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from model_trainer.api.deps import GenerationPoolDep, RunLogsDep, RunsDep
from model_trainer.api.schemas.common import BODY_ERRORS, Responses, error_responses
from model_trainer.api.schemas.runs import (
    EvalPublic,
    EvaluateRequest,
    GeneratePublic,
    GenerateRequest,
    LogsPublic,
    MetricsPublic,
    RunCreate,
    RunPublic,
    RunQueued,
    RunsPublic,
)
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import JobStatus
from model_trainer.training.config import EvalRequest
from model_trainer.training.evaluate import EvalMetrics, Sample

LINE_NUMBER = r"^[0-9]{1,15}$"
"""An event id: a line number in ASCII digits (`str.isdigit` also admits '²')."""


def start_run(body: RunCreate, runs: RunsDep) -> RunQueued:
    """Queue a training run and return its id at once."""
    manifest = runs.enqueue_training(body)
    return RunQueued(run_id=manifest.run_id, status=manifest.status)


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
        int, Query(ge=0, description="Skip the first `after` records (a previous `next_after`)")
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


async def _log_events(
    lines: AsyncGenerator[tuple[int, str], None],
) -> AsyncIterator[ServerSentEvent]:
    """Each complete line as an event whose id is its line number, until the run ends."""
    async with aclosing(lines):  # a client that leaves stops following at once
        async for line_no, line in lines:
            yield ServerSentEvent(data=line, id=str(line_no), event="log")
            # A backlog is sent without waiting on anything, so the event loop would not
            # learn that the client left (and the server would keep writing to a dead
            # socket, warning each time) until the whole backlog was out: let it look.
            await asyncio.sleep(0)


def stream_logs(
    run_id: str,
    runs: RunsDep,
    logs: RunLogsDep,
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=LINE_NUMBER,
            description="The id of the last event seen (a line number); resumes after it",
        ),
    ] = None,
) -> EventSourceResponse:
    """Server-sent events, one per log line; `Last-Event-ID` resumes after that line."""
    path = runs.log_path(run_id)
    after = int(last_event_id) if last_event_id else 0
    return EventSourceResponse(_log_events(logs.follow(run_id, path, after)), ping=15)


def cancel_run(run_id: str, runs: RunsDep) -> RunPublic:
    """Ask the run to stop; it saves a checkpoint and ends `cancelled`."""
    return RunPublic.from_view(runs.cancel(run_id))


def evaluate_run(run_id: str, runs: RunsDep, body: EvaluateRequest | None = None) -> RunQueued:
    """Queue an evaluation of a completed run; results at `GET /runs/{id}/eval`."""
    request = body or EvaluateRequest()
    runs.enqueue_evaluation(
        EvalRequest(run_id=run_id, split=request.split, corpus_path=request.corpus_path)
    )
    return RunQueued(run_id=run_id, status=JobStatus.QUEUED)


def get_eval(run_id: str, runs: RunsDep) -> EvalPublic:
    """The latest evaluation's metrics and samples."""
    folder = runs.folder(run_id)
    runs.get(run_id)
    try:
        metrics = EvalMetrics.model_validate_json(folder.eval_metrics.read_bytes())
        lines = folder.eval_samples.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AppError(ErrorCode.NOT_FOUND, f"run '{run_id}' has no evaluation yet") from None
    except ValidationError as exc:
        raise AppError(ErrorCode.DATA_INVALID, "the evaluation results are unreadable") from exc
    samples = [Sample.model_validate_json(line) for line in lines if line]
    return EvalPublic(run_id=run_id, metrics=metrics, samples=samples)


async def generate(
    run_id: str, body: GenerateRequest, runs: RunsDep, pool: GenerationPoolDep
) -> GeneratePublic:
    """Sample from the run's exported model (on the API's small generation pool; 503 with
    `Retry-After` when it is full; models cached)."""

    def sample() -> tuple[str, list[int]]:
        return runs.generate(
            run_id, body.prompt, body.max_new_tokens, body.temperature, body.top_k, body.seed
        )

    sampled = await pool.run(sample)  # unpacked apart: mypy sees Any in `a, b = await`
    text, ids = sampled
    return GeneratePublic(run_id=run_id, prompt=body.prompt, text=text, ids=ids, count=len(ids))


LOG_EVENT: dict[str, object] = {
    "type": "object",
    "description": "One line of the run's `logs.jsonl`; `id` is its line number",
    "properties": {
        "event": {"const": "log"},
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "data": {"type": "string"},
    },
    "required": ["event", "id", "data"],
}
STREAM_RESPONSES: Responses = {
    200: {
        "description": "Server-sent events, one per log line, until the run has ended",
        # Before OpenAPI 3.2 an event stream's `schema` describes each event.
        "content": {"text/event-stream": {"schema": LOG_EVENT}},
    },
    **error_responses(404),
}

# Every route may answer 401 (API key), 422 (parameters), 500 and 503 (Redis); the rest are
# declared per route so the schema lists what each one can answer.
router = APIRouter(prefix="/runs", tags=["runs"], responses=error_responses(401, 422, 500, 503))
router.add_api_route(
    "/train",
    start_run,
    methods=["POST"],
    status_code=202,
    operation_id="runs-train",
    responses=error_responses(*BODY_ERRORS, 404, 409, 507),
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
    responses=STREAM_RESPONSES,
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
    responses=error_responses(*BODY_ERRORS, 404, 409),
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
