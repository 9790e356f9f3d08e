"""Generation in a real API process (uvicorn) under clients that give up or crowd in: an
abandoned generation stops, short requests are not starved by long ones, and refusals of a
full pool are not logged as errors.

The model is an untrained GPT-2 a few times larger than the test run's, planted in a copy
of it, so that one long generation takes about a minute here: long enough that a server
which kept sampling for a client that left, or ran requests one after another, clearly
fails, while the assertions are about order and events rather than tight timings.
"""

from __future__ import annotations

import select
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import GeneratePublic
from model_trainer.core.contracts.model import Architecture
from model_trainer.core.settings import Settings
from model_trainer.infra.atomic import write_model
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.run.manifest import RunManifest

from .processes import api_process
from .test_runs_api import char_tokenizer, finished_run

__all__ = ["char_tokenizer", "finished_run"]  # the fixtures, shared with test_runs_api

pytestmark = pytest.mark.timeout(300)

SLOW = "run-00000000-00005104"
LONG = 4096
"""New tokens of a long request (the default limit): about a minute of sampling here."""
SHORT_WITHIN_S = 60.0
"""Generous bound for short requests; one abandoned long generation alone takes longer."""
POOL = {"API__INFERENCE_WORKERS": "1", "API__INFERENCE_QUEUE": "8"}
"""One thread, so a server that ran requests whole would serve them strictly in turn."""


class _LogLine(BaseModel):
    """The fields of an API log record these tests read."""

    model_config = ConfigDict(extra="ignore")

    event: str = ""
    level: str = ""
    pool: str | None = None
    error_code: str | None = None
    suppressed: int | None = None


def _log_lines(log: Path, skip: int) -> list[_LogLine]:
    """Records of the API's log after its first `skip` lines (non-JSON lines ignored)."""
    found: list[_LogLine] = []
    for raw in log.read_bytes().splitlines()[skip:]:
        try:
            found.append(_LogLine.model_validate_json(raw))
        except ValidationError:
            continue
    return found


def _plant_slow_run(settings: Settings, source: str) -> None:
    """A copy of `source` whose export is an untrained model of 4 layers of width 256."""
    models = settings.artifacts_root / "models"
    folder = models / SLOW
    if folder.exists():
        return
    shutil.copytree(models / source, folder)
    manifest = RunManifest.model_validate_json((folder / "manifest.json").read_bytes())
    small = manifest.architecture
    arch = Architecture(
        family=small.family,
        n_layer=4,
        n_head=4,
        n_embd=256,
        max_seq_len=256,
        vocab_size=small.vocab_size,
        dropout=0.0,
        options=small.options,
    )
    backend = Gpt2Backend()
    torch.manual_seed(0)
    backend.export(backend.build(arch), arch, folder / "export")
    manifest.run_id, manifest.architecture = SLOW, arch
    write_model(folder / "manifest.json", manifest)


@pytest.fixture(scope="module")
def server(stack_settings: Settings, finished_run: str) -> Iterator[tuple[str, Path]]:
    """`model-trainer api` with a one-thread generation pool and the slow run planted;
    yields its base URL and the file its log goes to."""
    _plant_slow_run(stack_settings, finished_run)
    log = stack_settings.artifacts_root.parent / "api-generation.log"
    with api_process(stack_settings, log, {"API__INFERENCE_THREADS": "1", **POOL}) as base:
        _short(base)  # loads the model, so no test waits for that
        yield base, log


class _LongClient:
    """A long generation on a raw socket, so the test decides when its client leaves."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        body = b'{"prompt": "The ", "max_new_tokens": %d, "seed": 1}' % LONG
        head = f"POST /runs/{SLOW}/generate HTTP/1.1\r\nHost: {host}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self._sock = socket.create_connection((host, int(port)), timeout=10)
        self._sock.sendall(head.encode() + body)

    def answered(self) -> bool:
        """Whether the server has sent anything back (a long generation: not for a minute)."""
        return bool(select.select([self._sock], [], [], 0)[0])

    def leave(self) -> None:
        self._sock.close()


def _short(base: str) -> GeneratePublic:
    body = {"prompt": "The ", "max_new_tokens": 8, "seed": 2}
    answer = httpx.post(f"{base}/runs/{SLOW}/generate", json=body, timeout=SHORT_WITHIN_S)
    assert answer.status_code == 200, answer.text
    return GeneratePublic.model_validate_json(answer.content)


def _wait_stopped(log: Path, skip: int, count: int) -> None:
    """Until the API has logged `count` generations stopped for clients that left."""
    deadline = time.monotonic() + SHORT_WITHIN_S
    while True:
        lines = _log_lines(log, skip)
        stopped = [r for r in lines if r.event == "inference_stopped" and r.pool == "generate"]
        if len(stopped) >= count:
            return
        assert time.monotonic() < deadline, f"{len(stopped)} of {count} stopped: {lines[-5:]}"
        time.sleep(0.2)


def test_an_abandoned_generation_stops_and_frees_the_model(server: tuple[str, Path]) -> None:
    base, log = server
    skip = len(log.read_bytes().splitlines())
    client = _LongClient(base)
    time.sleep(1.0)  # let it start sampling (the test holds whether or not it has)
    client.leave()
    _wait_stopped(log, skip, 1)
    start = time.monotonic()
    for _ in range(4):
        assert _short(base).count == 8
    elapsed = time.monotonic() - start
    print(f"4 short generations after an abandoned long one: {elapsed:.1f} s")
    assert elapsed < SHORT_WITHIN_S


def test_a_short_request_overtakes_long_ones_queued_before_it(
    server: tuple[str, Path],
) -> None:
    base, log = server
    skip = len(log.read_bytes().splitlines())
    longs = [_LongClient(base) for _ in range(3)]
    try:
        time.sleep(2.0)  # all three admitted and sampling before the short one arrives
        started = time.monotonic()
        assert _short(base).count == 8
        print(f"short generation behind 3 long ones: {time.monotonic() - started:.1f} s")
        assert not any(client.answered() for client in longs)
    finally:
        for client in longs:
            client.leave()
    _wait_stopped(log, skip, 3)


def test_refusals_of_a_full_pool_are_not_logged_as_errors(server: tuple[str, Path]) -> None:
    base, log = server
    skip = len(log.read_bytes().splitlines())
    capacity = sum(int(n) for n in POOL.values())
    longs = [_LongClient(base) for _ in range(capacity)]
    try:
        time.sleep(2.0)  # every place taken
        body = {"prompt": "The ", "max_new_tokens": 8, "seed": 2}
        for _ in range(45):
            answer = httpx.post(f"{base}/runs/{SLOW}/generate", json=body, timeout=30)
            assert answer.status_code == 503, answer.text
            assert ErrorBody.model_validate_json(answer.content).code == "SERVER_BUSY"
        lines = _log_lines(log, skip)  # each refusal is logged before it is answered
        assert not [r for r in lines if r.level in ("error", "critical")], lines
        refused = [r for r in lines if r.event == "request_refused"]
        assert 1 <= len(refused) <= 5, refused  # one per 10 s at most
        assert {(r.level, r.error_code) for r in refused} == {("warning", "SERVER_BUSY")}
    finally:
        for client in longs:
            client.leave()
    _wait_stopped(log, skip, capacity)
    _short(base)  # every place given back
