"""The worker's signal handling at the moment a horse is forked, driven deterministically.

The end-to-end stop tests hit these moments only by chance; here the stop is made to land
exactly in the window where the horse still runs the worker's handlers.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from rq import Queue
from rq.job import Job
from rq.worker import WorkerStatus

from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.stopping import WORKER_STOP
from model_trainer.worker.main import WarmStopWorker


class _HorseThatIsToldAtOnce(WarmStopWorker):
    """A horse that is passed the stop before it installs its own handlers, and reports
    (its pid, and whether the job would stop warm) on `report`."""

    report = -1

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the worker's pass-on may also come; either way
        stopped = WORKER_STOP.wait(10.0)
        os.write(self.report, f"{os.getpid()} {stopped}".encode())
        os._exit(0)


@pytest.fixture(scope="function")
def restored_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


@pytest.mark.usefixtures("restored_handlers")
def test_a_stop_just_before_the_fork_reaches_the_horse(redis_url: str) -> None:
    """A stop landing after the job is taken and before the fork leaves RQ's cold-stop
    handler installed, which ignores a second signal within a second: the horse inherits it
    and must still treat the passed-on signal as a warm stop."""
    store = RedisStore(redis_url)
    try:
        queue = Queue("signals-test", connection=store.client)
        worker = _HorseThatIsToldAtOnce([queue], name="signals-test", connection=store.client)
        worker.grace_s = 60.0
        read, worker.report = os.pipe()
        job = queue.enqueue("builtins.len", "abc")
        signal.signal(signal.SIGTERM, worker.request_stop)
        worker.set_state(WorkerStatus.BUSY)  # the job is taken
        os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) == worker.request_force_stop
        worker.fork_work_horse(job, queue)
        os.close(worker.report)
        pid, stopped = os.read(read, 64).decode().split()
        os.close(read)
        os.waitpid(int(pid), 0)
        worker.cancel_kill_timer()
        assert stopped == "True", "the passed-on stop was lost in the horse"
    finally:
        store.client.delete("rq:queue:signals-test")
        store.close()


class _HorseThatMissedTheSignal(WarmStopWorker):
    """A horse to which the stop was signalled before it could hear it (CPython clears a
    signal that reaches a child before its fork handling has run): here it ignores SIGTERM
    until the stop was sent, then puts its own handler in place as a horse does."""

    report = -1

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        deadline = time.monotonic() + 10
        while not (self._stop_flag is not None and self._stop_flag[0]):
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self.setup_work_horse_signals()
        os.write(self.report, f"{os.getpid()} {WORKER_STOP.requested()}".encode())
        os._exit(0)


@pytest.mark.usefixtures("restored_handlers")
def test_a_stop_the_horse_could_not_hear_still_reaches_its_job(redis_url: str) -> None:
    store = RedisStore(redis_url)
    try:
        queue = Queue("signals-test-lost", connection=store.client)
        worker = _HorseThatMissedTheSignal(
            [queue], name="signals-test-lost", connection=store.client
        )
        worker.grace_s = 60.0
        read, worker.report = os.pipe()
        job = queue.enqueue("builtins.len", "abc")
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the signal is lost in the horse
        worker.set_state(WorkerStatus.BUSY)
        worker.fork_work_horse(job, queue)
        signal.signal(signal.SIGTERM, worker.request_stop)
        os.kill(os.getpid(), signal.SIGTERM)  # the worker is told to stop, and passes it on
        os.close(worker.report)
        pid, stopped = os.read(read, 64).decode().split()
        os.close(read)
        os.waitpid(int(pid), 0)
        worker.cancel_kill_timer()
        assert stopped == "True", "the stop signalled before the horse could hear it was lost"
    finally:
        store.client.delete("rq:queue:signals-test-lost")
        store.close()
