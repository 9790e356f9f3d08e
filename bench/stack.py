"""A private Redis, API and worker for benchmarks that drive the service end to end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerPublic, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.tokenizer import TokenizerMethod

ROOT = Path(__file__).resolve().parents[1]
SHARED_CORPUS = ROOT.parent / "shared" / "corpus" / "tinyshakespeare.txt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start(args: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> None:
    handle = stack.enter_context(log.open("ab"))
    proc = subprocess.Popen(args, env=env, stdout=handle, stderr=handle)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

    stack.callback(stop)


@contextmanager
def running_redis(work: Path) -> Iterator[str]:
    """Yield the URL of a private Redis (nothing persisted) once it accepts connections."""
    work.mkdir(parents=True, exist_ok=True)
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is needed for this benchmark")
    port = free_port()
    with ExitStack() as stack:
        _start(
            [server, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
            + ["--appendonly", "no", "--dir", str(work)],
            dict(os.environ),
            work / "redis.log",
            stack,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"redis-server did not start; see {work}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"


@contextmanager
def running_stack(
    work: Path, corpus_root: Path, threads: int, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """Yield the base URL of an API with one worker, on a Redis of their own.

    `extra_env` overrides the environment of API and worker (e.g. `LOG_LEVEL=INFO` when a
    benchmark reads the jobs' own log records)."""
    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        redis_url = stack.enter_context(running_redis(work))
        env = (
            dict(os.environ)
            | {
                "REDIS_URL": redis_url,
                "ARTIFACTS_ROOT": str(work / "artifacts"),
                "CORPUS_ROOT": str(corpus_root),
                "WORKER__THREADS": str(threads),
                "LOG_LEVEL": "WARNING",
            }
            | (extra_env or {})
        )
        api_port = free_port()
        python = sys.executable
        _start([python, "-m", "model_trainer", "worker"], env, work / "worker.log", stack)
        _start(
            [python, "-m", "model_trainer", "api", "--port", str(api_port)],
            env,
            work / "api.log",
            stack,
        )
        base = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 120
        while request("GET", base + "/readyz")[0] != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"the service did not start; see {work}")
            time.sleep(0.3)
        yield base


def char_tokenizer_body(corpus: str, seed: int = 1) -> TokenizerCreate:
    """A char tokenizer on `corpus` with 10% held out."""
    return TokenizerCreate(
        method=TokenizerMethod.CHAR,
        vocab_size=256,
        min_frequency=1,
        corpus_path=corpus,
        holdout_fraction=0.1,
        seed=seed,
    )


def train_char_tokenizer(base: str, corpus: str = "shakespeare.txt", seed: int = 1) -> str:
    """Train a char tokenizer through the API; its id once completed."""
    raw = request("POST", base + "/tokenizers/train", char_tokenizer_body(corpus, seed))[1]
    tokenizer_id = TokenizerQueued.model_validate_json(raw).tokenizer_id
    while True:
        tok = TokenizerPublic.model_validate_json(
            request("GET", f"{base}/tokenizers/{tokenizer_id}")[1]
        )
        if tok.status == "completed":
            return tokenizer_id
        if tok.status == "failed":
            raise SystemExit(f"tokenizer {tokenizer_id} failed: {tok.message}")
        time.sleep(0.05)
