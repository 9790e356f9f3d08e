"""Every line the API and worker processes write to stderr is one JSON object, even when
uvicorn, RQ, transformers or an exception's traceback are the ones writing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, JsonValue, TypeAdapter, ValidationError

from model_trainer.api.schemas.runs import GeneratePublic, GenerateRequest, RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.queue import JobSpec
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.rq_queue import RqJobQueue
from model_trainer.training.config import DataSpec, ModelSpec, RunConfig, TrainerSpec

from .conftest import story
from .processes import READY_S, free_port

pytestmark = pytest.mark.timeout(180)

QUEUE = "json-logs"


JsonObject = dict[str, JsonValue]
RECORD: TypeAdapter[JsonObject] = TypeAdapter(JsonObject)


class _Status(BaseModel):
    """The one field of a tokenizer or run view that the waits read."""

    status: str


def _wait(base: str, path: str, done: set[str], timeout_s: float = 60) -> bytes:
    """Poll `path` until its `status` is in `done`; returns the last body."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, raw = request("GET", base + path)
        if status == 200 and _Status.model_validate_json(raw).status in done:
            return raw
        assert time.monotonic() < deadline, f"{path} never reached {done}: {raw!r}"
        time.sleep(0.2)


def _records(path: Path) -> list[JsonObject]:
    """Every non-empty line of `path`, each of which must be a JSON object."""
    found: list[JsonObject] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                found.append(RECORD.validate_json(line, strict=True))
            except ValidationError:
                pytest.fail(f"{path.name}: not a JSON object: {line!r}")
    return found


def _send_garbage(port: int) -> None:
    """An invalid HTTP request line, which uvicorn answers with a warning of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"NOT AN HTTP REQUEST\x00\r\n\r\n")
        conn.settimeout(10)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass  # uvicorn may reset the connection rather than close it


def test_every_stderr_line_of_api_and_worker_is_a_json_object(
    redis_url: str, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(400, 7), encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "CI")
    } | {
        "REDIS_URL": redis_url,
        "ARTIFACTS_ROOT": str(tmp_path / "artifacts"),
        "CORPUS_ROOT": str(corpus),
        "WORKER__QUEUE_NAME": QUEUE,
        "WORKER__THREADS": "1",
    }
    commands = {
        "api": ["api", "--host", "127.0.0.1", "--port", str(port)],
        "worker": ["worker"],
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, args in commands.items():
        with (tmp_path / f"{name}.err").open("wb") as err:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "model_trainer", *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
    try:
        deadline = time.monotonic() + READY_S
        while request("GET", base + "/readyz")[0] != 200:
            assert all(p.poll() is None for p in procs.values()), "a process died at start"
            assert time.monotonic() < deadline, "the stack did not get ready"
            time.sleep(0.2)

        _send_garbage(port)

        # A job that raises inside RQ's work horse: RQ logs the traceback itself.
        store = RedisStore(redis_url)
        try:
            RqJobQueue(store, QUEUE, 30).enqueue(
                JobSpec(
                    job_id="json-logs-bad-payload",
                    function="model_trainer.worker.jobs.evaluate_model",
                    payload_json="not json",
                )
            )
        finally:
            store.close()

        # A trained model that the API loads with `from_pretrained` ("Loading weights").
        body = TokenizerCreate(
            method=TokenizerMethod.CHAR, vocab_size=100, min_frequency=1, corpus_path="story.txt"
        )
        status, raw = request("POST", base + "/tokenizers/train", body)
        assert status == 202, raw
        tok = TokenizerQueued.model_validate_json(raw).tokenizer_id
        _wait(base, f"/tokenizers/{tok}", {"completed", "failed"})
        config = RunConfig(
            model=ModelSpec(size="nano", n_layer=1, n_head=2, n_embd=32, max_seq_len=32),
            data=DataSpec(tokenizer_id=tok, corpus_path="story.txt"),
            trainer=TrainerSpec(
                max_steps=10,
                batch_size=4,
                warmup_steps=2,
                eval_interval=10,
                eval_steps=1,
                checkpoint_interval=10,
                compile="off",
            ),
        )
        status, raw = request("POST", base + "/runs/train", config)
        assert status == 202, raw
        run_id = RunQueued.model_validate_json(raw).run_id
        final = RunPublic.model_validate_json(
            _wait(base, f"/runs/{run_id}", {"completed", "failed", "cancelled"})
        )
        assert final.status == "completed", final.message
        status, raw = request(
            "POST", f"{base}/runs/{run_id}/generate", GenerateRequest(max_new_tokens=4)
        )
        assert status == 200, raw
        assert GeneratePublic.model_validate_json(raw).text is not None
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    api_records = _records(tmp_path / "api.err")
    worker_records = _records(tmp_path / "worker.err")
    assert any(r.get("logger") == "uvicorn.error" for r in api_records), api_records
    failures = [
        r
        for r in worker_records
        if r.get("logger") == "rq.worker" and "json-logs-bad-payload" in str(r.get("event"))
    ]
    assert failures and "Traceback" in str(failures[0].get("event")), worker_records
