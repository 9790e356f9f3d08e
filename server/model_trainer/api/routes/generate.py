"""`POST /runs/{run_id}/generate`: sample from a run's model, whole or streamed as it is made.

Both ways run on the API's generation pool, a slice at a time. A stream is admitted and its
model loaded before the answer starts, so a refusal (unknown run, not ready, bad settings,
pool full) is an ordinary HTTP error; once it has started a failure can only be an `error`
event. A stream's place in the pool is held until its last slice has run, and a client that
leaves stops it: the event stream is cancelled, which stops the slice in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from pydantic import TypeAdapter
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from model_trainer.api.deps import GenerationPoolDep, RunsDep
from model_trainer.api.errors import request_id_var
from model_trainer.api.routes.log_stream import PING_S, sse_json
from model_trainer.api.schemas.common import (
    BODY_ERRORS,
    GUARDED,
    ErrorBody,
    Responses,
    error_responses,
)
from model_trainer.api.schemas.runs import GeneratePublic, GenerateRequest, GenerateToken
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.json_types import JsonObject
from model_trainer.core.logging import Log
from model_trainer.infra.inference_pool import SlicedLease
from model_trainer.training.inference.generation import Generation
from model_trainer.training.inference.streaming import Progress, StreamedGeneration

EVENT_STREAM = "text/event-stream"

_log = Log("api")
_JSON_OBJECT: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


def wants_stream(request: Request, body: GenerateRequest) -> bool:
    return body.stream or EVENT_STREAM in request.headers.get("accept", "").lower()


async def generate(
    run_id: str, body: GenerateRequest, runs: RunsDep, pool: GenerationPoolDep, request: Request
) -> GeneratePublic | EventSourceResponse:
    """Sample from the run's exported model (on the API's small generation pool; 503 with
    `Retry-After` when it is full; models cached). With `Accept: text/event-stream` or
    `stream: true` the answer is server-sent events: `token` events as the text is made,
    then `done` with the whole answer, or `error` with the error body if it fails midway."""

    def start() -> Generation:
        return runs.generate(
            run_id, body.prompt, body.max_new_tokens, body.temperature, body.top_k, body.seed
        )

    if wants_stream(request, body):
        lease = await pool.open_sliced(lambda: StreamedGeneration(start()))
        events = _events(lease, run_id, body.prompt, request_id_var.get())
        return _LeasedEvents(events, lease)
    # Uvicorn does not cancel a handler whose client left: the pool asks between slices.
    sampled = await pool.run_sliced(start, request.is_disconnected)
    text, ids = sampled  # unpacked apart: mypy sees Any in `a, b = await`
    return GeneratePublic(run_id=run_id, prompt=body.prompt, text=text, ids=ids, count=len(ids))


class _LeasedEvents(EventSourceResponse):
    """The event stream, giving the pool's place back however the answer ends: also when
    it never starts (a client gone before the first byte), where the events' own `finally`
    would never run."""

    def __init__(self, events: AsyncIterator[ServerSentEvent], lease: SlicedLease[Progress]):
        super().__init__(events, ping=PING_S)
        self._lease = lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._lease.close()


async def _events(
    lease: SlicedLease[Progress], run_id: str, prompt: str, request_id: str
) -> AsyncIterator[ServerSentEvent]:
    finished = False
    try:
        while not finished:
            finished = await lease.advance()
            piece = lease.result().piece
            if piece is not None:
                token = GenerateToken(text=piece.text, ids=piece.ids)
                yield ServerSentEvent(data=sse_json(token.model_dump_json()), event="token")
        done = lease.result()
        answer = GeneratePublic(
            run_id=run_id, prompt=prompt, text=done.text, ids=done.ids, count=len(done.ids)
        )
        yield ServerSentEvent(data=sse_json(answer.model_dump_json()), event="done")
    except AppError as exc:
        _log.warning(
            "generation_failed", run_id=run_id, error_code=str(exc.code), message=exc.message
        )
        yield _error_event(exc.code, exc.message, request_id)
    except (asyncio.CancelledError, GeneratorExit):
        if not finished:
            lease.stopped("client disconnected")
        raise
    except Exception as exc:  # noqa: BLE001 - logged with its stack; see below
        # Logged here with its stack and handled: the client hears a sanitised error and
        # the answer ends cleanly. Raising on would break the connection mid-answer (no
        # final chunk) and log the same failure again as an ASGI error.
        _log.exception(
            "generation_crashed",
            run_id=run_id,
            error_code=str(ErrorCode.INTERNAL_ERROR),
            error=f"{type(exc).__name__}: {exc}",
        )
        yield _error_event(ErrorCode.INTERNAL_ERROR, "internal error", request_id)
    finally:
        lease.close()


def _error_event(code: str, message: str, request_id: str) -> ServerSentEvent:
    body = ErrorBody(code=code, message=message, request_id=request_id)
    return ServerSentEvent(data=sse_json(body.model_dump_json()), event="error")


def _token_schema() -> JsonObject:
    """`GenerateToken`'s schema, inline: no route answers it as JSON, so FastAPI does not
    list it among the components (pydantic types the schema with `Any`: checked here)."""
    schema: object = GenerateToken.model_json_schema()
    return _JSON_OBJECT.validate_python(schema)


def _event(name: str, description: str, data: object) -> dict[str, object]:
    """One kind of event in the schema: its name and its `data`, JSON described by `data`."""
    return {
        "type": "object",
        "title": f"Generate{name.capitalize()}Event",
        "description": description,
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
        "required": ["event", "data"],
    }


def generate_responses() -> Responses:
    """The JSON answer (from the response model) and, for a stream, its events."""
    event: dict[str, object] = {
        "oneOf": [
            _event(
                "token",
                "Text made since the previous event (never a broken character) and its ids",
                _token_schema(),
            ),
            _event(
                "done",
                "The whole answer, as without streaming",
                {"$ref": "#/components/schemas/GeneratePublic"},
            ),
            _event(
                "error",
                "It failed after the stream began",
                {"$ref": "#/components/schemas/ErrorBody"},
            ),
        ]
    }
    return {
        200: {
            "description": "The generated text; with `Accept: text/event-stream` or "
            "`stream: true`, server-sent events as it is made",
            # Before OpenAPI 3.2 an event stream's `schema` describes each event.
            "content": {EVENT_STREAM: {"schema": event}},
        },
        **error_responses(*BODY_ERRORS, 404, 409),
    }


# Routes are added without decorators: FastAPI's decorator types carry `Any`.
router = APIRouter(
    prefix="/runs", tags=["runs"], responses=error_responses(*GUARDED, 422, 500, 503)
)
router.add_api_route(
    "/{run_id}/generate",
    generate,
    methods=["POST"],
    operation_id="runs-generate",
    response_model=GeneratePublic,
    responses=generate_responses(),
)
