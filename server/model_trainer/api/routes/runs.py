"""`/runs`: start, watch, cancel, evaluate and sample training runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse

from model_trainer.api.deps import (
    DeletionDep,
    EvaluationsDep,
    RunCatalogDep,
    RunLogsDep,
    RunsDep,
)
from model_trainer.api.routes.log_stream import (
    LastEventId,
    log_stream,
    resume_after,
    stream_responses,
)
from model_trainer.api.schemas.common import BODY_ERRORS, GUARDED, error_responses
from model_trainer.api.schemas.labels import LabelsPatch
from model_trainer.api.schemas.runs import (
    EvalPublic,
    EvalQueued,
    EvaluateRequest,
    LogsPublic,
    MetricsPublic,
    RunCreate,
    RunEstimatePublic,
    RunPublic,
    RunQueued,
    RunResumeRequest,
    RunsPublic,
    SamplesPublic,
)
from model_trainer.core.job_status import JobStatus
from model_trainer.core.request_model import MAX_RECORD_OFFSET
from model_trainer.orchestrators.run_labels import RunQuery, RunSort
from model_trainer.training.config import EvalRequest

MAX_METRICS_PAGE = 100_000
"""The most records `limit` may ask for in one page of metrics."""
MIN_METRICS_POINTS = 4
MAX_METRICS_POINTS = 10_000
"""Bounds of `points`: one bucket (four points) up to more than a screen is wide."""


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


def list_runs(
    catalog: RunCatalogDep,
    status: Annotated[JobStatus | None, Query(description="Only runs in this status")] = None,
    tag: Annotated[
        str | None, Query(max_length=200, description="Only runs with this tag (any case)")
    ] = None,
    family: Annotated[
        str | None, Query(max_length=200, description="Only runs of this model family")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Only runs whose name or id holds this (any case)"),
    ] = None,
    sort: Annotated[RunSort, Query(description="The order")] = RunSort.NEWEST,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RunsPublic:
    """Runs, newest first unless `sort` says otherwise; the filters combine (an empty one is
    no filter). A filtered or sorted list looks through the newest 10,000 runs."""
    query = RunQuery(status, tag or None, family or None, q or None, sort, limit)
    data = [RunPublic.from_view(v) for v in catalog.find(query)]
    return RunsPublic(data=data, count=len(data))


def get_run(run_id: str, runs: RunsDep) -> RunPublic:
    """Status, message, last heartbeat, progress and latest metrics."""
    return RunPublic.from_view(runs.get(run_id))


def relabel_run(run_id: str, body: LabelsPatch, catalog: RunCatalogDep) -> RunPublic:
    """Change the run's name, notes or tags, in any status: a field left out stays, null
    clears it (`config` keeps what was submitted)."""
    return RunPublic.from_view(catalog.relabel(run_id, body))


def delete_run(run_id: str, deletion: DeletionDep) -> Response:
    """Delete an ended run: its folder, live state and stored objects. 409 `RUN_ACTIVE`
    while it (or an evaluation of it, or a run that fine-tunes from it) has not ended."""
    deletion.delete_run(run_id)
    return Response(status_code=204)


def get_samples(run_id: str, runs: RunsDep) -> SamplesPublic:
    """The samples generated at each evaluation during training (with their distinct-1,
    distinct-2 and repetition rate), oldest first."""
    data = runs.samples(run_id)
    return SamplesPublic(run_id=run_id, data=data, count=len(data))


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
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_METRICS_PAGE,
            description="At most this many records past `after` (all of them when absent); "
            "`next_after` then points at the next page",
        ),
    ] = None,
    points: Annotated[
        int | None,
        Query(
            ge=MIN_METRICS_POINTS,
            le=MAX_METRICS_POINTS,
            description="Downsample for a chart: at most this many training records "
            "(per bucket of steps the first, last, lowest and highest loss) and a quarter as "
            "many evaluations (all of them when fewer). For a first load; poll on with "
            "`after=next_after` and no `points`",
        ),
    ] = None,
) -> MetricsPublic:
    """Logged steps and evaluations in order, after the first `after` (charts append).
    Each page costs the records it serves, not the whole run."""
    page = runs.metrics(run_id, after, limit, points)
    return MetricsPublic(
        run_id=run_id,
        data=page.records,
        count=len(page.records),
        after=after,
        next_after=page.next_after,
        total=page.total,
        downsampled=page.downsampled,
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


def resume_run(run_id: str, runs: RunsDep, body: RunResumeRequest | None = None) -> RunQueued:
    """Queue a run that ended again, under its id: a cancelled or failed run continues from
    its last checkpoint (from step 0 without one); a completed run is extended to
    `max_steps` and exports again when it completes. 409 while it is queued or running."""
    manifest = runs.resume(run_id, (body or RunResumeRequest()).max_steps)
    return RunQueued(run_id=manifest.run_id, status=manifest.status)


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


# Every route may answer 401 or 421 (key, host), 422 (parameters), 500 and 503 (Redis); the rest are
# declared per route so the schema lists what each one can answer.
router = APIRouter(
    prefix="/runs", tags=["runs"], responses=error_responses(*GUARDED, 422, 500, 503)
)
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
    "/{run_id}",
    relabel_run,
    methods=["PATCH"],
    operation_id="runs-relabel",
    responses=error_responses(*BODY_ERRORS, 404),
)
router.add_api_route(
    "/{run_id}",
    delete_run,
    methods=["DELETE"],
    status_code=204,
    operation_id="runs-delete",
    responses=error_responses(404, 409),
)
router.add_api_route(
    "/{run_id}/metrics",
    get_metrics,
    methods=["GET"],
    operation_id="runs-metrics",
    responses=error_responses(404),
)
router.add_api_route(
    "/{run_id}/samples",
    get_samples,
    methods=["GET"],
    operation_id="runs-samples",
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
    "/{run_id}/resume",
    resume_run,
    methods=["POST"],
    status_code=202,
    operation_id="runs-resume",
    responses=error_responses(*BODY_ERRORS, 404, 409, 429),
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
