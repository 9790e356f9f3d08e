"""Transient faults are waited out with backoff; other failures are not retried."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from model_trainer.core.errors import AppError, ErrorCode
from model_trainer.core.logging import Log
from model_trainer.infra.backoff import delays, retry_transient
from model_trainer.infra.redis_store import RedisStore, RedisUnavailable

from .processes import free_port


def test_delays_double_up_to_a_ceiling() -> None:
    waits = delays(first_s=0.5, max_s=3.0)
    assert [next(waits) for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_redis_that_comes_up_late_is_waited_for(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs the redis-server binary")
    port = free_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0")
    servers: list[subprocess.Popen[bytes]] = []

    def start_late() -> None:
        args = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
        servers.append(subprocess.Popen([*args, "--dir", str(tmp_path)]))

    threading.Timer(1.0, start_late).start()
    started = time.monotonic()
    try:
        value = retry_transient(lambda: store.incr("counter"), "count", Log("core"))
    finally:
        time.sleep(0.1)
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        store.close()
    assert value == 1
    assert time.monotonic() - started >= 1.0


def test_gives_up_after_the_bound_and_never_retries_bad_input() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    started = time.monotonic()
    with pytest.raises(RedisUnavailable):
        retry_transient(lambda: store.incr("counter"), "count", Log("core"), attempts=3)
    assert time.monotonic() - started >= 1.5  # waited 0.5 s, then 1 s
    calls: list[int] = []

    def refuse() -> int:
        calls.append(1)
        raise AppError(ErrorCode.CONFIG_INVALID, "bad input stays bad")

    with pytest.raises(AppError):
        retry_transient(refuse, "refuse", Log("core"))
    assert len(calls) == 1
