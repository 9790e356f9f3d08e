"""Where a job is in its life, and why it failed: the words every layer shares about jobs.

Manifests store them, Redis keeps them live (`infra/job_state.py`), the API shows them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from model_trainer.core.errors import AppError, FailureClass


class JobStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    """Waiting for a worker: new, or put back by a worker that was stopped."""
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALLED = "stalled"
    """Was running, but its heartbeat stopped: the worker died; it will be started again."""


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
"""Statuses a job never leaves; its manifest is then the whole truth."""


class JobError(BaseModel):
    """Why a job failed and whether retrying could help."""

    model_config = ConfigDict(extra="forbid")

    code: str
    failure_class: FailureClass
    message: str

    @classmethod
    def of(cls, exc: AppError) -> JobError:
        """The record of `exc` as a manifest stores it."""
        return cls(code=str(exc.code), failure_class=exc.failure_class, message=exc.message)
