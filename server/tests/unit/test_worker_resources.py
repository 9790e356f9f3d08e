"""A worker's own note of what it does, and one real look at this machine."""

from __future__ import annotations

import os
import socket

from model_trainer.infra.resources import ActivityTracker, sample_machine


def test_the_tracker_follows_jobs_and_a_stop_sticks() -> None:
    tracker = ActivityTracker()
    first = tracker.snapshot()
    assert (first.state, first.current_job) == ("idle", None)
    assert (first.host, first.pid) == (socket.gethostname(), os.getpid())
    assert not tracker.changed.is_set()
    tracker.job_started("run-00000000-00000001")
    assert tracker.changed.is_set()
    busy = tracker.snapshot()
    assert (busy.state, busy.current_job) == ("busy", "run-00000000-00000001")
    assert busy.since >= first.since
    tracker.job_ended()
    assert (tracker.snapshot().state, tracker.snapshot().current_job) == ("idle", None)
    tracker.job_started("tok-00000000-00000002")
    tracker.stopping()  # asked to stop mid-job: it still runs the job while it hands it back
    stopping = tracker.snapshot()
    assert (stopping.state, stopping.current_job) == ("stopping", "tok-00000000-00000002")
    tracker.job_ended()
    assert (tracker.snapshot().state, tracker.snapshot().current_job) == ("stopping", None)


def test_a_sample_of_this_machine_is_plausible() -> None:
    sample_machine(gpu=False)  # CPU use is over the span since the previous call
    sample = sample_machine(gpu=False)
    assert 0.0 <= sample.cpu_percent <= 100.0
    assert sample.memory_bytes > 0 and 0.0 < sample.memory_percent <= 100.0
    assert sample.gpu_percent is None and sample.gpu_memory_bytes is None
    # Asked for GPU figures on a machine without `nvidia-smi`: none, and no failure
    with_gpu = sample_machine(gpu=True)
    assert with_gpu.memory_bytes > 0
