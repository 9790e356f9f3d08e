"""`model-trainer worker`: an RQ forking worker with heavy imports done once, up front, and
a warm stop.

RQ's stock worker forks a fresh horse per job; anything the horse imports (numeric
libraries, tokenizers) it would import again every time. Importing the job modules here,
before the first fork, makes job start cost a fork instead of seconds of imports. RQ's
worker API is partly unannotated, so this module is exempt from `disallow_any_expr`.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import select
import signal
import socket
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

from pydantic import TypeAdapter, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker
from rq.job import Job

from model_trainer.core.contracts.queue import Capability
from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import Settings
from model_trainer.infra.compute import LocalCompute
from model_trainer.infra.machine import cuda_devices, served_capabilities, worker_capacity
from model_trainer.infra.redis_store import RedisStore, RedisUnavailable
from model_trainer.infra.resources import ActivityTracker, ResourceHistory, ResourceSampler
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX, queue_name_for
from model_trainer.infra.workers import WorkerCapacity, WorkerDirectory
from model_trainer.jobs.layout import ArtifactLayout
from model_trainer.jobs.stopping import WORKER_STOP

if TYPE_CHECKING:  # imported for real only after the thread variables are set
    from model_trainer.jobs.recovery import Recovery

_log = Log("worker")


def _stop_job_warm(horse: int, signum: int, _frame: FrameType | None) -> None:
    """In a work horse: ask the job to stop warm (it queues itself again)."""
    if os.getpid() != horse:
        # A process the horse forked (dataset encoders) inherited this handler: it ends as
        # by default, or its pool could never terminate it.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    WORKER_STOP.request(signal.Signals(signum).name)


class WarmStopWorker(Worker):
    """RQ's forking worker, whose first SIGTERM (or SIGINT) also stops the job warm.

    RQ's own first signal only stops taking jobs and waits for the work horse, whose job may
    train for days. Here the signal is passed on to the horse, whose handler asks the job to
    finish its step, save `last.pt` and queue itself again; a timer kills the horse if it is
    not done within `grace_s`. A second signal stops cold at once, as in RQ: the horse is
    killed, and its job is started again once its heartbeat lapses.
    """

    grace_s = 30.0
    _kill_timer: threading.Timer | None = None
    activity: ActivityTracker | None = None
    """Told of each job and of the stop, for `GET /workers`."""

    _worker_pid = 0
    _stop_pending: int | None = None
    _stop_flag: mmap.mmap | None = None
    """One byte shared with the current horse, set before a stop is signalled to it: a
    signal that reaches a child before Python's fork handling has run in it is cleared
    there (CPython forgets signals that arrived "before the fork"), so the horse also looks
    at this byte once its own handler is in place."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        # In the worker only: the horse forked inside leaves through `os._exit`.
        payload = job.args[0] if job.args else None
        if self.activity is not None:  # the job's own id (an RQ id may add a delivery's)
            self.activity.job_started(payload if isinstance(payload, str) else job.id)
        try:
            super().execute_job(job, queue)
        finally:
            if self.activity is not None:
                self.activity.job_ended()

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        # A stop that lands after the job was taken but before the horse's pid is known
        # (while it is being forked, or just before) would otherwise be lost: the horse
        # still has the worker's handler; the job would train on and the worker wait for
        # it to the end.
        self._worker_pid = os.getpid()
        self._stop_flag = mmap.mmap(-1, 1)  # anonymous and shared: the horse inherits it
        super().fork_work_horse(job, queue)  # returns in the worker only
        if self._stop_pending is not None and self.horse_pid:
            self._pass_stop_on(self.horse_pid, self._stop_pending)

    def setup_work_horse_signals(self) -> None:
        # Passed on by the worker, or sent to every process by a service manager
        handler = functools.partial(_stop_job_warm, os.getpid())
        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        if self._stop_flag is not None and self._stop_flag[0]:
            WORKER_STOP.request("SIGTERM")  # signalled before this process could hear it

    def _in_horse_before_its_handler(self, signum: int) -> bool:
        """A horse that has not yet put its own handler in place runs the worker's (either
        of them: a stop just before the fork leaves `request_force_stop` installed, which
        would ignore a signal within a second of the first). It is the same warm stop."""
        if self._worker_pid and os.getpid() != self._worker_pid:
            WORKER_STOP.request(signal.Signals(signum).name)
            return True
        return False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._in_horse_before_its_handler(signum):
            return
        if self.activity is not None:
            self.activity.stopping()
        if self.horse_pid:
            self._pass_stop_on(self.horse_pid, signum)
        else:
            # Idle, forking, or between taking a job and forking its horse (RQ goes on to
            # run a job it has taken): passed on as soon as a fork returns, if one comes.
            self._stop_pending = signum
        super().request_stop(signum, frame)  # stop taking jobs; the next signal is cold

    def _pass_stop_on(self, horse: int, signum: int) -> None:
        """Ask the horse to stop warm, and kill it if it is not done within `grace_s`."""
        if self._kill_timer is not None:
            return
        _log.info("worker_stopping_warm", horse=horse, grace_s=self.grace_s)
        if self._stop_flag is not None:
            self._stop_flag[0] = 1  # before the signal: see `_stop_flag`
        try:
            os.kill(horse, signum)  # not its process group: its own children stay out
        except ProcessLookupError:
            return  # it has just finished
        self._kill_timer = threading.Timer(self.grace_s, self._kill_late_horse, (horse,))
        self._kill_timer.daemon = True
        self._kill_timer.start()

    def request_force_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._in_horse_before_its_handler(signum):
            return
        try:
            super().request_force_stop(signum, frame)  # returns when the signal came twice
        except SystemExit:
            self.cancel_kill_timer()
            raise

    def cancel_kill_timer(self) -> None:
        if self._kill_timer is not None:
            self._kill_timer.cancel()

    def _kill_late_horse(self, horse: int) -> None:
        """The grace period is over: kill the horse with its process group, as a cold stop."""
        if self.horse_pid != horse:
            return  # it finished in time
        _log.warning("horse_killed_after_grace", horse=horse, grace_s=self.grace_s)
        try:
            os.killpg(horse, signal.SIGKILL)  # the horse leads its own process group
        except ProcessLookupError:
            pass


class _Maintenance:
    """A thread that heartbeats for this worker (`/readyz` counts it) and starts again the
    jobs whose worker died (any live worker may pick them up)."""

    def __init__(
        self,
        store: RedisStore,
        name: str,
        interval_s: float,
        reconciler: Recovery,
        reconcile_every_s: float,
        directory: WorkerDirectory,
        capacity: WorkerCapacity,
    ) -> None:
        self._store = store
        self._name = name
        self._directory = directory
        self._capacity = capacity
        self._interval_s = interval_s
        self._reconciler = reconciler
        self._reconcile_every_s = reconcile_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-maintenance", daemon=True)

    def _loop(self) -> None:
        next_reconcile = 0.0
        while not self._stop.is_set():
            try:
                self._store.index_add(WORKERS_ALIVE_INDEX, self._name, time.time())
                self._directory.publish(self._capacity)
                if time.monotonic() >= next_reconcile:
                    first = next_reconcile == 0.0
                    resumed = self._reconciler.reconcile(scan_artifacts=first)
                    if resumed:
                        _log.info("jobs_resumed", jobs=list(resumed))
                    next_reconcile = time.monotonic() + self._reconcile_every_s
            except AppError as exc:
                _log.warning("worker_maintenance_failed", error=str(exc))
            except Exception:  # noqa: BLE001 - logged with its stack; see below
                # This thread is what keeps the worker visible and dead runs resumed; one
                # bad pass must not end it for the life of the process.
                _log.exception("worker_maintenance_crashed")
            self._stop.wait(self._interval_s)

    def __enter__(self) -> _Maintenance:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval_s + 5)
        try:
            self._store.index_remove(WORKERS_ALIVE_INDEX, self._name)
        except RedisUnavailable as exc:
            _log.warning("worker_unregister_failed", error=exc.message)


_PEAKS: TypeAdapter[dict[str, float]] = TypeAdapter(dict[str, float])


PEAK_TIMEOUT_S = 60.0
"""How long worker start waits for the peak-FLOPs child before it kills it and goes on."""


def _measure_in_child(settings: Settings, write: int) -> NoReturn:
    """The forked child: measure, answer on `write`, and leave without running any cleanup;
    a failure is logged (one JSON line with its traceback) and exits nonzero."""
    status = 1
    try:
        from model_trainer.training.loop.peak import measure_for_worker

        cache = ArtifactLayout(settings.artifacts_folder).peak_flops
        answer = json.dumps(measure_for_worker(cache, settings.worker.threads))
        with os.fdopen(write, "wb") as out:
            out.write(answer.encode())
        status = 0
    except BaseException as exc:  # noqa: BLE001 - the child's last word, then it exits
        _log.exception("peak_flops_measure_failed", error=f"{type(exc).__name__}: {exc}")
    finally:
        os._exit(status)


def _read_child(pid: int, read: int, timeout_s: float) -> tuple[bytes, str | None]:
    """What the child wrote on `read` before it closed it, or, past `timeout_s`, the child
    killed and the reason; the child is reaped either way."""
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    reason: str | None = None
    with os.fdopen(read, "rb", buffering=0) as answer_in:
        while True:
            left = deadline - time.monotonic()
            ready = select.select([answer_in], [], [], max(left, 0.0))[0] if left > 0 else []
            if not ready:
                reason = f"the measuring child did not answer within {timeout_s:.0f} s"
                os.kill(pid, signal.SIGKILL)
                break
            chunk = answer_in.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if reason is None and status != 0:
        reason = f"the measuring child exited with status {os.waitstatus_to_exitcode(status)}"
    return b"".join(chunks), reason


def _measure_peaks(settings: Settings, timeout_s: float = PEAK_TIMEOUT_S) -> dict[str, float]:
    """The devices' peak FLOP/s (read from the cache file, or measured once per machine),
    found in a child forked for it as work horses are: this process must run no native
    thread pool and touch no CUDA, or the horses it forks could not use them. A child that
    fails or hangs (killed after `timeout_s`) leaves the worker to start without peaks."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _measure_in_child(settings, write)
    os.close(write)
    raw, reason = _read_child(pid, read, timeout_s)
    if reason is not None:
        _log.warning("peak_flops_not_measured", reason=reason)
        return {}
    try:
        return _PEAKS.validate_json(raw)
    except ValidationError:
        _log.warning("peak_flops_not_measured", reason="the measuring child's answer is no peak")
        return {}


def _served(settings: Settings) -> tuple[list[Capability], list[str]]:
    """The capabilities this worker serves and the RQ queues it takes jobs from, in order;
    one it cannot serve stops it before it takes a job (logged, then raised: the command
    exits non-zero with the reason)."""
    try:
        serves = served_capabilities(settings.worker.queues, has_cuda=bool(cuda_devices()))
    except AppError as exc:
        _log.error("worker_refused_to_start", code=str(exc.code), error=exc.message)
        raise
    return serves, [queue_name_for(settings.worker.queue_name, c) for c in serves]


def _resource_sampler(
    settings: Settings, store: RedisStore, worker: WarmStopWorker, serves: list[Capability]
) -> ResourceSampler:
    """The thread that samples this machine for `GET /workers`, told by `worker` what it
    is doing; GPU figures only on a worker that serves CUDA."""
    worker.activity = ActivityTracker()
    interval_s = settings.worker.resource_interval_s
    history = ResourceHistory(store, interval_s)
    return ResourceSampler(history, worker.name, worker.activity, interval_s, "cuda" in serves)


def _log_started(
    name: str, queues: list[str], compute: LocalCompute, peaks: dict[str, float]
) -> None:
    _log.info(
        "worker_started",
        name=name,
        queues=", ".join(queues),
        threads=compute.threads(),
        nice=os.nice(0),
        peak_flops=", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in sorted(peaks.items())),
    )


def run_worker(settings: Settings, burst: bool = False) -> None:
    """Consume jobs until told to stop (SIGTERM: stop the current job warm; again: cold)."""
    compute = LocalCompute(settings.worker.threads)
    compute.apply()  # before any native thread pool starts
    os.nice(settings.worker.nice)  # work horses inherit it; requests are served first
    # Library progress bars would interleave with the JSON log lines on stderr.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Before `work()`: RQ adds its plain-text handlers only when no handler is effective yet,
    # and this installs the root's JSON one.
    configure_logging(settings.log_level, "model-trainer-worker")
    serves, queues = _served(settings)

    # Heavy imports happen once here, before the first fork, never per job.
    from model_trainer.services import MODELS, RECONCILER, WORKERS, build_registry
    from model_trainer.worker import jobs

    registry = build_registry(settings)
    jobs.install(registry)
    with registry.container() as container:
        container.get(MODELS)  # imports the model plugins (transformers)
        reconciler = container.get(RECONCILER)
        directory = container.get(WORKERS)
    peaks = _measure_peaks(settings)
    store = RedisStore(settings.redis_url)
    name = f"{socket.gethostname()}.{os.getpid()}"
    worker = WarmStopWorker(
        [Queue(queue, connection=store.client) for queue in queues],
        name=name,
        connection=store.client,
        worker_ttl=max(30, int(settings.worker.heartbeat_ttl_s * 2)),
        maintenance_interval=30,
    )
    worker.grace_s = settings.worker.stop_grace_s
    sampler = _resource_sampler(settings, store, worker, serves)
    _log_started(name, queues, compute, peaks)
    try:
        with _Maintenance(
            store,
            name,
            settings.worker.heartbeat_interval_s,
            reconciler,
            settings.worker.reconcile_interval_s,
            directory,
            worker_capacity(name, compute.threads(), peaks, serves),
        ):
            with sampler:
                worker.work(burst=burst, logging_level="WARNING")
    except RedisConnectionError as exc:
        # RQ waits out outages while idle or training, but not while it signs off.
        _log.error("worker_stopped_without_redis", name=name, error=str(exc))
    finally:
        worker.cancel_kill_timer()
        registry.close()
        store.close()
        _log.info("worker_stopped", name=name)
