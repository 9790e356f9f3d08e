"""Room in the queue: new work is refused while too many jobs already wait for a worker."""

from __future__ import annotations

from model_trainer.core.contracts.queue import JobQueue
from model_trainer.core.errors import AppError, ErrorCode

QUEUE_FULL_RETRY_S = 30
"""What a refused client is told to wait: about the time a small job takes."""


def check_room(queue: JobQueue, limit: int) -> None:
    """Refuse new work while `limit` jobs already wait (work that was queued before, such as
    a run a stopping worker hands back, never passes through here)."""
    waiting = queue.waiting()
    if waiting >= limit:
        raise AppError(
            ErrorCode.QUEUE_FULL,
            f"{waiting} jobs are waiting for a worker (the limit is {limit}); try again later",
            retry_after_s=QUEUE_FULL_RETRY_S,
        )
