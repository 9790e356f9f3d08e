"""The API as people run it (uvicorn in a process of its own), under abuse that only a real
server shows: clients that drop log streams mid-backlog, and a flood of generation requests.

Timings are printed, not asserted (speed targets live in `bench/`): the assertions are that
a dropped stream stops writing at once and that a full generation pool answers 503 with
`Retry-After` while health checks keep answering.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.core.job_status import JobStatus
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_model
from model_trainer.training.run.manifest import RunManifest

from .processes import api_process
from .test_runs_api import char_tokenizer, finished_run

__all__ = ["char_tokenizer", "finished_run"]  # the fixtures, shared with test_runs_api

pytestmark = pytest.mark.timeout(300)

BACKLOG = 3000
"""Log lines of the planted run, as in the report (each about 200 bytes)."""
PLANTED = "run-00000000-0000f00d"
LIVE = "run-00000000-0000beaf"


@pytest.fixture(scope="module")
def server(stack_settings: Settings, finished_run: str) -> Iterator[tuple[str, Path]]:
    """`model-trainer api` on the session's Redis and folders, with a small generation pool;
    yields its base URL and the file its stderr goes to."""
    log = stack_settings.artifacts_root.parent / "api-process.log"
    pool = {
        "API__INFERENCE_WORKERS": "1",
        "API__INFERENCE_QUEUE": "2",
        "API__INFERENCE_THREADS": "1",
    }
    with api_process(stack_settings, log, pool) as base:
        yield base, log


def _plant_long_log(stack_settings: Settings, source: str) -> None:
    """A copy of a finished_run run whose log has `BACKLOG` lines."""
    models = stack_settings.artifacts_root / "models"
    folder = models / PLANTED
    if not folder.exists():
        shutil.copytree(models / source, folder)
        line = '{"event": "train_progress", "step": 1, "pad": "' + "x" * 150 + '"}'
        with (folder / "logs.jsonl").open("a", encoding="utf-8") as handle:
            handle.writelines(f"{line}\n" for _ in range(BACKLOG))


def _drop_stream(port: int) -> int:
    """Read the first 100 kB of the backlog, then close with more still arriving: the
    kernel answers the server's next segments with a reset, as for a client that left."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    request = f"GET /runs/{PLANTED}/logs/stream HTTP/1.1\r\nHost: localhost\r\n\r\n"
    conn.sendall(request.encode())
    got = b""
    while len(got) < 100_000:
        got += conn.recv(65536)
    conn.close()
    return len(got)


def test_a_dropped_stream_stops_writing(
    server: tuple[str, Path], stack_settings: Settings, finished_run: str
) -> None:
    base, log = server
    _plant_long_log(stack_settings, finished_run)
    port = int(base.rsplit(":", 1)[1])
    before = len(log.read_bytes().splitlines())
    for _ in range(5):
        assert _drop_stream(port) > 0
    time.sleep(1.5)
    # The server still serves, and said almost nothing about the five dropped clients.
    assert httpx.get(f"{base}/runs/{PLANTED}", timeout=10).status_code == 200
    lines = log.read_bytes().splitlines()[before:]
    print(f"API stderr lines after 5 dropped streams of {BACKLOG} lines: {len(lines)}")
    assert not [line for line in lines if b"socket.send" in line]
    assert len(lines) < 20, lines[:5]
    for line in lines:
        json.loads(line)


def _generate(base: str, run_id: str, results: list[httpx.Response]) -> None:
    body = {"prompt": "The ", "max_new_tokens": 256, "temperature": 0.8, "seed": 1}
    results.append(httpx.post(f"{base}/runs/{run_id}/generate", json=body, timeout=120))


def test_a_full_generation_pool_answers_503_and_health_stays_up(
    server: tuple[str, Path], finished_run: str
) -> None:
    base, _log = server
    results: list[httpx.Response] = []
    threads = [
        threading.Thread(target=_generate, args=(base, finished_run, results)) for _ in range(12)
    ]
    for thread in threads:
        thread.start()
    health: list[float] = []
    while any(t.is_alive() for t in threads):
        start = time.perf_counter()
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        health.append(time.perf_counter() - start)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    busy = [r for r in results if r.status_code == 503]
    print(f"generate statuses {statuses}; /healthz max {max(health) * 1000:.1f} ms")
    assert set(statuses) <= {200, 503} and len(results) == 12
    assert 3 <= statuses.count(200) and busy, statuses
    for answer in busy:
        assert ErrorBody.model_validate_json(answer.content).code == "SERVER_BUSY"
        assert answer.headers["Retry-After"].isascii()
        assert answer.headers["Retry-After"].isdigit()


@pytest.fixture()
def live_run(stack_settings: Settings, finished_run: str) -> Iterator[Path]:
    """A copy of finished_run that says it is still running, so its log stream stays open."""
    models = stack_settings.artifacts_root / "models"
    folder = models / LIVE
    shutil.copytree(models / finished_run, folder)
    manifest = RunManifest.model_validate_json((folder / "manifest.json").read_bytes())
    manifest.run_id, manifest.status, manifest.finished_at = LIVE, JobStatus.RUNNING, None
    write_model(folder / "manifest.json", manifest)
    yield folder
    shutil.rmtree(folder)


def _next_event(response: http.client.HTTPResponse) -> tuple[int, str]:
    event_id, data = 0, ""
    while True:
        line = response.readline().decode("utf-8").rstrip("\r\n")
        if line.startswith("id:"):
            event_id = int(line[3:])
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif not line and event_id:
            return event_id, data


def test_log_streams_are_neither_compressed_nor_held_back(
    server: tuple[str, Path], live_run: Path
) -> None:
    """A client that accepts gzip still gets each log line as an event the moment it is
    written: compression would hold events back until a buffer filled."""
    base, _log = server
    backlog = len((live_run / "logs.jsonl").read_bytes().splitlines())
    conn = http.client.HTTPConnection("127.0.0.1", int(base.rsplit(":", 1)[1]), timeout=30)
    try:
        headers = {"Accept": "text/event-stream", "Accept-Encoding": "gzip"}
        conn.request("GET", f"/runs/{LIVE}/logs/stream", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        assert response.getheader("Content-Encoding") is None
        while _next_event(response)[0] < backlog:
            pass
        delays: list[float] = []
        for n in range(1, 4):
            probe: dict[str, object] = {"event": "probe", "n": n}
            with (live_run / "logs.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(probe) + "\n")
            written = time.monotonic()
            event_id, data = _next_event(response)
            delays.append(time.monotonic() - written)
            assert event_id == backlog + n and data == json.dumps(probe)
        print(f"log line written -> event received: {[round(d * 1000) for d in delays]} ms")
        assert max(delays) < 2.0, delays
    finally:
        conn.close()
