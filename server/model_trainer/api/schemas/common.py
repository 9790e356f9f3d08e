"""Shapes shared by every resource."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model_trainer.core.contracts.queue import Capability
from model_trainer.infra.workers import DeviceKind


class ErrorBody(BaseModel):
    """Every error response: a stable code, a message for people, and the request id."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    request_id: str


class CapabilityCounts(BaseModel):
    """Live workers that serve each capability's queue (a worker serving both counts in
    both)."""

    model_config = ConfigDict(extra="forbid")

    cpu: int
    cuda: int


class LiveWorker(BaseModel):
    """One live worker: the queues it serves and the devices it has."""

    model_config = ConfigDict(extra="forbid")

    name: str
    serves: list[Capability]
    devices: list[DeviceKind]


class Health(BaseModel):
    """Liveness or readiness, with the reason when not ready."""

    model_config = ConfigDict(extra="forbid")

    status: str
    redis: bool | None = None
    workers: int | None = None
    reason: str | None = None
    capabilities: Annotated[
        CapabilityCounts | None,
        Field(description="Readiness only: live workers by the capability they serve"),
    ] = None
    live_workers: Annotated[
        list[LiveWorker] | None,
        Field(description="Readiness only: each live worker that has said what it serves"),
    ] = None


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not JSON (`BODY_NOT_JSON`), a path is unusable or outside its root, or a "
    "stored file is bad",
    401: "`X-Api-Key` is missing or wrong (only when the API has a key)",
    404: "No such tokenizer, run, evaluation, artifact, file or corpus",
    409: "The tokenizer or run is not in a state that allows this",
    411: "A chunked body without `Content-Length`",
    413: "The body is over the configured limit",
    421: "The request names a host this API does not answer (`HOST_NOT_ALLOWED`: without a key "
    "it answers loopback names and `SECURITY__ALLOWED_HOSTS` only)",
    422: "A field is missing, unknown or out of range (the message names it)",
    429: "Too many jobs wait for a worker (`QUEUE_FULL`, with `Retry-After`)",
    500: "An unexpected failure (logged with its stack; the body says nothing more)",
    503: "The queue (Redis) does not answer, no worker is live (readiness only), or the "
    "generation or encode pool is full (`SERVER_BUSY`, with `Retry-After`)",
    507: "The artifacts folder cannot be written",
}

Responses = dict[int | str, dict[str, object]]
"""What `add_api_route(responses=...)` takes, without `Any`."""

GUARDED = (401, 421)
"""What the middleware answers before any route runs: a missing or wrong key, a host it does
not answer."""

BODY_ERRORS = (400, 411, 413, 422)
"""What any route with a JSON body can answer before it runs: unparseable, chunked, too big,
invalid."""


def error_responses(*statuses: int) -> Responses:
    """`responses=` for a JSON route: each status answers with an `ErrorBody`."""
    return {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}
