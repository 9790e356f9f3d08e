"""A worker that is being stopped tells the job in its work horse, through this flag.

The worker's signal handler (`worker/main.py`) raises it in the horse; the training loop's
stop check and the lifecycle read it. A job seeing it stops warm: a run finishes its step,
saves `last.pt` and is queued again; a job without checkpoints is queued again at once.
"""

from __future__ import annotations

import threading


class StopRequest:
    """Raised once, by a signal handler; read by the job from any thread."""

    def __init__(self) -> None:
        self._raised = threading.Event()
        self._reason = ""

    def request(self, reason: str) -> None:
        """Ask the job to stop warm; `reason` says why (e.g. "SIGTERM")."""
        if not self._raised.is_set():
            self._reason = reason
            self._raised.set()

    def requested(self) -> bool:
        return self._raised.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def wait(self, timeout_s: float) -> bool:
        """True once a stop is requested, False when `timeout_s` passed first."""
        return self._raised.wait(timeout_s)


WORKER_STOP = StopRequest()
"""The one request of this process (a work horse runs one job)."""
