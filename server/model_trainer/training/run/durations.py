"""A run's seconds per phase, summed over every attempt.

A run stopped by a crash or a warm stop starts again from its checkpoint: what its earlier
attempts spent is already in the manifest, and each attempt adds to it instead of starting
again from zero. Every manifest write takes the time so far, so an attempt that dies between
two writes loses at most the time since the last one.
"""

from __future__ import annotations

import time
from typing import Literal

from model_trainer.training.run.manifest import RunDurations

Phase = Literal["prepare", "train", "export"]


class AttemptClock:
    """Adds this attempt's time to `durations` (the manifest's own object) at each `tick`."""

    def __init__(self, durations: RunDurations) -> None:
        self._durations = durations
        self._before = durations.model_copy()
        self._started = time.perf_counter()
        self._phase: Phase | None = None
        self._phase_started = self._started
        self._spent: dict[Phase, float] = {"prepare": 0.0, "train": 0.0, "export": 0.0}

    def start(self, phase: Phase) -> None:
        """End the phase in hand (if any) and start `phase`."""
        self.tick()
        if self._phase is not None:
            self._spent[self._phase] += time.perf_counter() - self._phase_started
        self._phase, self._phase_started = phase, time.perf_counter()

    def tick(self) -> None:
        """Write the time so far into the durations."""
        now = time.perf_counter()

        def spent(phase: Phase) -> float:
            running = now - self._phase_started if phase == self._phase else 0.0
            return self._spent[phase] + running

        before, out = self._before, self._durations
        out.prepare_s = before.prepare_s + spent("prepare")
        out.train_s = before.train_s + spent("train")
        out.export_s = before.export_s + spent("export")
        out.total_s = before.total_s + (now - self._started)
