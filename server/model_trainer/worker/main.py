"""`model-trainer worker`: an RQ forking worker with heavy imports done once, up front.

RQ's stock worker forks a fresh horse per job; anything the horse imports (numeric
libraries, tokenizers) it would import again every time. Importing the job modules here,
before the first fork, makes job start cost a fork instead of seconds of imports. RQ's
worker API is partly unannotated, so this module is exempt from `disallow_any_expr`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker

from model_trainer.core.errors import AppError
from model_trainer.core.logging import Log, configure_logging
from model_trainer.core.settings import Settings
from model_trainer.infra.compute import LocalCompute
from model_trainer.infra.machine import worker_capacity
from model_trainer.infra.redis_store import RedisStore, RedisUnavailable
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX
from model_trainer.infra.workers import WorkerCapacity, WorkerDirectory

if TYPE_CHECKING:  # imported for real only after the thread variables are set
    from model_trainer.orchestrators.recovery import RunReconciler

_log = Log("worker")


class _Maintenance:
    """A thread that heartbeats for this worker (`/readyz` counts it) and resumes runs
    whose worker died (any live worker may pick them up)."""

    def __init__(
        self,
        store: RedisStore,
        name: str,
        interval_s: float,
        reconciler: RunReconciler,
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
                        _log.info("runs_resumed", runs=list(resumed))
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


def run_worker(settings: Settings, burst: bool = False) -> None:
    """Consume jobs until told to stop (SIGTERM: finish the current job first)."""
    compute = LocalCompute(settings.worker.threads)
    compute.apply()  # before any native thread pool starts
    os.nice(settings.worker.nice)  # work horses inherit it; requests are served first
    # Library progress bars would interleave with the JSON log lines on stderr.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # Before `work()`: RQ adds its plain-text handlers only when no handler is effective yet,
    # and this installs the root's JSON one.
    configure_logging(settings.log_level, "model-trainer-worker")

    # Heavy imports happen once here, before the first fork, never per job.
    from model_trainer.services import MODELS, RECONCILER, WORKERS, build_registry
    from model_trainer.worker import jobs

    registry = build_registry(settings)
    jobs.install(registry)
    with registry.container() as container:
        container.get(MODELS)  # imports the model plugins (transformers)
        reconciler = container.get(RECONCILER)
        directory = container.get(WORKERS)
    store = RedisStore(settings.redis_url)
    name = f"{socket.gethostname()}.{os.getpid()}"
    worker = Worker(
        [Queue(settings.worker.queue_name, connection=store.client)],
        name=name,
        connection=store.client,
        worker_ttl=max(30, int(settings.worker.heartbeat_ttl_s * 2)),
        maintenance_interval=30,
    )
    _log.info(
        "worker_started",
        name=name,
        queue=settings.worker.queue_name,
        threads=compute.threads(),
        nice=os.nice(0),
    )
    try:
        with _Maintenance(
            store,
            name,
            settings.worker.heartbeat_interval_s,
            reconciler,
            settings.worker.reconcile_interval_s,
            directory,
            worker_capacity(name, compute.threads()),
        ):
            worker.work(burst=burst, logging_level="WARNING")
    except RedisConnectionError as exc:
        # RQ waits out outages while idle or training, but not while it signs off.
        _log.error("worker_stopped_without_redis", name=name, error=str(exc))
    finally:
        registry.close()
        store.close()
        _log.info("worker_stopped", name=name)
