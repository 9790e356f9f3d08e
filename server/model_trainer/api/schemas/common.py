"""Shapes shared by every resource."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    """Every error response: a stable code, a message for people, and the request id."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    request_id: str


class Health(BaseModel):
    """Liveness or readiness, with the reason when not ready."""

    model_config = ConfigDict(extra="forbid")

    status: str
    redis: bool | None = None
    workers: int | None = None
    reason: str | None = None
