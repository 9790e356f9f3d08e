"""Redis, API and worker as real processes that a test can kill and start again."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from model_trainer.api.schemas.runs import RunPublic
from model_trainer.api.schemas.tokenizers import TokenizerPublic
from model_trainer.client.raw import request
from model_trainer.core.settings import Settings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import WORKERS_ALIVE_INDEX

FAST_RECOVERY = {
    "WORKER__HEARTBEAT_INTERVAL_S": "0.5",
    "WORKER__HEARTBEAT_TTL_S": "3",
    "WORKER__RECONCILE_INTERVAL_S": "1",
    "WORKER__RETRY_BACKOFF_S": "0.5",
    "WORKER__THREADS": "1",
}
"""Short heartbeats so that a lost worker is noticed in seconds, not minutes."""

READY_S = 300.0
"""How long a stack may take to answer `/readyz`: a guard against a hang, not a measure.
A worker imports torch and times its peak FLOP/s before its first heartbeat, which a
machine busy with other work stretches well past a minute."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (RQ's work horse runs in a session of its own)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class ProcessStack:
    """A private Redis, an API on a free port and any number of workers, by name."""

    def __init__(self, work: Path, artifacts: Path, corpus: Path) -> None:
        self.work = work
        self.redis_port, self.api_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.env = (
            dict(os.environ)
            | FAST_RECOVERY
            | {
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "ARTIFACTS_ROOT": str(artifacts),
                "CORPUS_ROOT": str(corpus),
                "WORKER__QUEUE_NAME": "faults",
            }
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        """Start `redis`, `api`, or a worker (any name beginning with `worker`)."""
        if name == "redis":
            binary = shutil.which("redis-server")
            assert binary is not None, "redis-server is needed"
            args = [binary, "--bind", "127.0.0.1", "--port", str(self.redis_port)]
            args += ["--save", "", "--appendonly", "no", "--dir", str(self.work)]
        elif name == "api":
            args = [sys.executable, "-m", "model_trainer", "api", "--port", str(self.api_port)]
        else:
            args = [sys.executable, "-m", "model_trainer", "worker"]
        log = (self.work / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children: no warning, no clean-up."""
        proc = self.procs.pop(name)
        for child in children(proc.pid):
            os.kill(child, signal.SIGKILL)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def signal(self, name: str, sig: int) -> None:
        """Send `sig` to the process alone (a worker passes it on to its work horse)."""
        os.kill(self.procs[name].pid, sig)

    def wait_exit(self, name: str, timeout_s: float) -> int:
        """Wait for the process to end by itself; its exit code."""
        code = self.procs[name].wait(timeout=timeout_s)
        del self.procs[name]
        return code

    def live_workers(self) -> list[str]:
        """Workers whose maintenance thread heartbeated in the last two seconds."""
        store = RedisStore(self.env["REDIS_URL"])
        try:
            return store.index_members_since(WORKERS_ALIVE_INDEX, time.time() - 2.0)
        finally:
            store.close()

    def start_worker(self, name: str, timeout_s: float = 120) -> None:
        """Start a worker and wait until it takes jobs (it heartbeats)."""
        self.start(name)
        worker = f"{socket.gethostname()}.{self.procs[name].pid}"
        deadline = time.monotonic() + timeout_s
        while worker not in self.live_workers():
            assert self.procs[name].poll() is None, f"{name} died; logs in {self.work}"
            assert time.monotonic() < deadline, f"{name} did not start; logs in {self.work}"
            time.sleep(0.1)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def wait_ready(self, timeout_s: float = READY_S) -> None:
        deadline = time.monotonic() + timeout_s
        while request("GET", self.base + "/readyz")[0] != 200:
            assert time.monotonic() < deadline, f"the stack did not get ready; logs in {self.work}"
            time.sleep(0.2)

    def run(self, run_id: str) -> RunPublic | None:
        status, raw = request("GET", f"{self.base}/runs/{run_id}")
        return RunPublic.model_validate_json(raw) if status == 200 else None

    def wait_run(
        self, run_id: str, until: set[str], at_step: int = 0, timeout_s: float = 300
    ) -> RunPublic:
        """Poll until the run's status is in `until` or it has passed `at_step`."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(run_id)
            if run is not None and (
                run.status in until or (at_step and run.progress.step >= at_step)
            ):
                return run
            assert time.monotonic() < deadline, f"{run_id} never reached {until}: {run}"
            time.sleep(0.1)

    def tokenizer(self, tokenizer_id: str) -> TokenizerPublic | None:
        status, raw = request("GET", f"{self.base}/tokenizers/{tokenizer_id}")
        return TokenizerPublic.model_validate_json(raw) if status == 200 else None

    def wait_tokenizer(
        self, tokenizer_id: str, until: set[str], timeout_s: float = 300
    ) -> TokenizerPublic:
        """Poll until the tokenizer's status is in `until`."""
        deadline = time.monotonic() + timeout_s
        while True:
            tok = self.tokenizer(tokenizer_id)
            if tok is not None and tok.status in until:
                return tok
            assert time.monotonic() < deadline, f"{tokenizer_id} never reached {until}: {tok}"
            time.sleep(0.1)


def sse_events(base: str, path: str, last_id: str | None, limit: int) -> Iterator[tuple[int, str]]:
    """(id, data) of server-sent events until `limit` arrived or the server ends the stream."""
    parts = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(parts[0], int(parts[1]), timeout=120)
    headers = {"Accept": "text/event-stream"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    assert response.status == 200
    event_id, data, seen = None, "", 0
    try:
        while seen < limit:
            raw = response.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("id:"):
                event_id = int(line[3:].strip())
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif not line and event_id is not None:
                yield event_id, data
                seen += 1
                event_id, data = None, ""
    finally:
        conn.close()


@contextlib.contextmanager
def api_process(settings: Settings, log: Path, extra_env: dict[str, str]) -> Iterator[str]:
    """`model-trainer api` on a free port over `settings`' Redis, folders and queue, its output
    in `log`, without the caller's `SECURITY__` settings; yields its base URL once `/healthz`
    answers, and stops it afterwards (killed if it will not stop)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECURITY__")} | {
        "REDIS_URL": settings.redis_url,
        "ARTIFACTS_ROOT": str(settings.artifacts_root),
        "CORPUS_ROOT": str(settings.corpus_root),
        "WORKER__QUEUE_NAME": settings.worker.queue_name,
        **extra_env,
    }
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "model_trainer", "api", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while request("GET", base + "/healthz")[0] != 200:
            assert proc.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still at work for clients long gone
            proc.kill()
            proc.wait(timeout=30)
