"""A process forked while another thread is writing a log line (an RQ work horse, forked
while the worker's resource sampler logs) can log: it does not inherit the held lock."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from model_trainer.core import logging as core_logging
from model_trainer.core.logging import Log, configure_logging, job_log_file

WAIT_S = 120.0
"""Generous bound for the child to log and exit: only a deadlock takes longer."""


def _child(log_path: Path) -> None:
    """In the forked child: log one line, exit 0; any failure exits non-zero."""
    code = 1
    try:
        configure_logging("INFO", "test")  # as a horse may: the other lock of the module
        with job_log_file(log_path):
            Log("worker").info("logged_after_fork")
        code = 0
    finally:
        os._exit(code)


def _wait(pid: int) -> int | None:
    """The child's exit status, or None if it did not end within `WAIT_S` (then killed)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_a_child_forked_while_a_thread_holds_the_log_locks_can_log(tmp_path: Path) -> None:
    configure_logging("INFO", "test")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        # As a thread writing a line (or configuring) at the fork.
        with core_logging._write_lock, core_logging._configured:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert held.wait(WAIT_S)
    log_path = tmp_path / "logs.jsonl"
    pid = os.fork()
    if pid == 0:
        _child(log_path)
    try:
        exit_code = _wait(pid)
    finally:
        release.set()
        holder.join()
    assert exit_code == 0, "the forked child could not log (deadlocked or failed)"
    assert "logged_after_fork" in log_path.read_text(encoding="utf-8")
