"""`model-trainer up`: with no Redis answering it starts an embedded one, then the API (with
the dashboard's route) and a worker; SIGTERM stops them all and leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from model_trainer.client.raw import request

from .processes import children, free_port

pytestmark = pytest.mark.timeout(300)


def test_up_starts_everything_and_stops_it_all(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ) | {
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "ARTIFACTS_ROOT": str(tmp_path / "artifacts"),
        "CORPUS_ROOT": str(tmp_path / "corpus"),
        "WORKER__THREADS": "1",
        "SECURITY__API_KEY": "up-key",  # up's own readiness check must send it
    }
    up = subprocess.Popen(
        [sys.executable, "-m", "model_trainer", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        while "serving until Ctrl-C" not in "".join(seen):  # said once it is ready
            assert up.poll() is None, up.communicate()
            seen.append(_read_line(up))
        assert request("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200
        started = children(up.pid)
        assert len(started) >= 3  # embedded Redis, worker, API
        up.send_signal(signal.SIGTERM)
        out, err = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.wait() == 0, err
    assert "started an embedded one" in "".join(seen) and "stopping" in out
    assert (tmp_path / "artifacts" / "logs" / "api.log").is_file()
    for pid in started:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"{pid} outlived up"


def _read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
