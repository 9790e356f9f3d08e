"""Runs that ended, queued again under their id: a cancelled or failed run continues from
its last checkpoint (from step 0 when it has none), a completed one is extended to more
steps from the checkpoint of its last step, and exports again when it completes.

    the run ended, and no evaluation of it waits or runs     else 409 RUN_ACTIVE
    take its lease                                           a worker still ends it: 409
    judge max_steps, the limits, the queue's room            422, 429
    the manifest queued again (the new max_steps recorded), then Redis, then the event
    release the lease, then enqueue                          a worker takes it at once

The worker that takes it resumes as after a crash: from `last.pt`, the metrics past its
step dropped first. The delivery gets an id of its own (`<run id>-u-<time>`): RQ's record
of an earlier delivery under the run's id neither blocks nor replaces it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

from model_trainer.core.contracts.events import EventPublisher
from model_trainer.core.contracts.queue import Capability, JobQueue, JobSpec
from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.job_status import TERMINAL, JobStatus
from model_trainer.core.logging import Log
from model_trainer.core.settings import Settings
from model_trainer.orchestrators.queue_room import check_room
from model_trainer.training.inference.eval_job import EVAL_MANIFESTS
from model_trainer.training.run.events import GLOBAL_CHANNEL, TrainQueued, run_channel
from model_trainer.training.run.kind import RunKind
from model_trainer.training.run.manifest import RunManifest

M = TypeVar("M", bound=BaseModel)

RESUME_LEASE_S = 30.0
"""How long the API may hold a run's lease while it queues it again (milliseconds)."""
_log = Log("training")


class RunResumption:
    """Queues ended runs again, each under its own id."""

    def __init__(
        self,
        settings: Settings,
        kind: RunKind,
        queue: JobQueue,
        events: EventPublisher,
        route: Callable[[RunManifest], Capability],
    ) -> None:
        self._settings = settings
        self._kind = kind
        self._queue = queue
        self._events = events
        self._route = route

    def resume(self, run_id: str, shown: JobStatus, max_steps: int | None) -> RunManifest:
        """Queue the run again; `shown` is its status as the API shows it, `max_steps` the
        new length (required to extend a completed run)."""
        if shown not in TERMINAL:
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' is {shown}; only a run that ended can be resumed",
            )
        self._no_evaluation_waits(run_id)
        owner = f"api-resume.{socket.gethostname()}.{os.getpid()}"
        state = self._kind.state
        if not self._kind.state.acquire_lease_soon(run_id, owner, RESUME_LEASE_S):
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' is still held by its worker (or another resume); try again "
                "in a few seconds",
            )
        try:
            manifest, message = self._queued_again(run_id, shown, max_steps)
        finally:
            state.release_lease(run_id, owner)
        # Only now: a worker that takes it at once must find the lease free.
        self._queue.enqueue(
            JobSpec(
                job_id=f"{run_id}-u-{time.time_ns()}",
                function=self._kind.target,
                payload_json=run_id,
                description=f"resume: run {run_id}",
                capability=self._route(manifest),
            )
        )
        _log.info(
            "run_requeued_to_resume",
            run_id=run_id,
            max_steps=manifest.progress.max_steps,
            message=message,
        )
        return manifest

    def _queued_again(
        self, run_id: str, shown: JobStatus, max_steps: int | None
    ) -> tuple[RunManifest, str]:
        """Under the lease: judge the request, then record the run as queued (manifest,
        Redis, event); the manifest and the message it waits with."""
        manifest = self._kind.read(run_id)
        if manifest is None:
            raise AppError(ErrorCode.NOT_FOUND, f"run '{run_id}' does not exist")
        # The manifest says how it ended, unless Redis knew better (a manifest that could not
        # be written as it failed)
        ended = manifest.status if manifest.status in TERMINAL else shown
        new_max = self._judged_max_steps(manifest, ended, max_steps)
        check_room(self._queue, self._settings.limits.max_queued_jobs)
        message = self._message(manifest, ended, new_max)
        restart(manifest, new_max)
        self._kind.write(manifest)
        self._kind.state.start_again(
            run_id, manifest.created_at.timestamp(), message, manifest.progress.model_dump_json()
        )
        # Before the enqueue, as for a new run: listeners hear it queued before it starts
        self._events.publish(
            [GLOBAL_CHANNEL, run_channel(run_id)],
            TrainQueued(
                request_id=run_id,
                family=manifest.architecture.family,
                parameters=manifest.parameters,
                max_steps=new_max,
            ),
        )
        return manifest, message

    def _judged_max_steps(
        self, manifest: RunManifest, ended: JobStatus, max_steps: int | None
    ) -> int:
        """The run's length from now on: `max_steps` when given (more than the steps done,
        within the limit); a completed run must be given one."""
        done = manifest.progress.step
        if max_steps is None:
            if ended is JobStatus.COMPLETED:
                raise AppError(
                    ErrorCode.CONFIG_INVALID,
                    f"max_steps: required to extend a completed run; give more than the "
                    f"{done} steps it ran",
                )
            return manifest.config.trainer.max_steps
        if max_steps <= done:
            raise AppError(
                ErrorCode.CONFIG_INVALID,
                f"max_steps: {max_steps} is not more than the {done} steps the run has done",
            )
        limit = self._settings.limits.max_steps
        if max_steps > limit:
            raise AppError(
                ErrorCode.CONFIG_INVALID, f"max_steps: {max_steps} exceeds the limit {limit}"
            )
        return max_steps

    def _message(self, manifest: RunManifest, ended: JobStatus, new_max: int) -> str:
        """What the run waits with: extended, resumed from its checkpoint, or started over."""
        step = manifest.progress.step
        if ended is JobStatus.COMPLETED:
            return f"queued to extend: from step {step} to {new_max}"
        folder = self._kind.folder(manifest.run_id)
        if folder.relative(folder.last_checkpoint) in manifest.artifacts:
            return f"queued to resume from its last checkpoint ({ended} at step {step})"
        return f"queued to start over: it ended ({ended}) before its first checkpoint"

    def _no_evaluation_waits(self, run_id: str) -> None:
        """Refuse while the run's newest evaluation is queued or running: it reads the
        export that an extended run replaces."""
        folder = self._kind.folder(run_id)
        evaluations = folder.evaluations()
        if not evaluations:
            return
        newest = EVAL_MANIFESTS.read(folder.evaluation(evaluations[-1]).manifest)
        if newest is not None and newest.status not in TERMINAL:
            raise AppError(
                ErrorCode.RUN_ACTIVE,
                f"run '{run_id}' has an evaluation {newest.status} ({newest.eval_id}); "
                "resume it once that ended",
            )


def restart(manifest: RunManifest, max_steps: int) -> None:
    """The manifest of an ended run queued again: no error, no end, a new budget of
    retries (the latest failure stays in `last_error`), and its length `max_steps`."""
    config = manifest.config
    if max_steps != config.trainer.max_steps:
        trainer = _changed(config.trainer, max_steps=max_steps)
        manifest.config = _changed(config, trainer=trainer)
    manifest.status = JobStatus.QUEUED
    manifest.error = None
    manifest.finished_at = None
    manifest.retries = 0
    progress = manifest.progress
    progress.max_steps = max_steps
    progress.phase = None
    progress.eta_s = None


def _changed(model: M, **changes: object) -> M:
    """`model` with `changes` (pydantic's `model_copy` takes them as a dict of `Any`)."""
    return model.model_copy(update=changes)
