"""Artifacts in S3-compatible object storage (moto's server), shared by processes that share
nothing else but Redis: each worker has its own working directory, host name and cache."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from s3fs import S3FileSystem

from model_trainer.api.routes.artifacts import ArtifactListing
from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import MetricsPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerCreate, TokenizerQueued
from model_trainer.client.raw import request
from model_trainer.core.contracts.tokenizer import TokenizerMethod
from model_trainer.infra.redis_store import RedisUnavailable
from model_trainer.training.config import DataSpec, ModelSpec, Precision, RunConfig, TrainerSpec
from model_trainer.training.run.manifest import RunManifest

from .conftest import story
from .processes import ProcessStack
from .store_server import StoreServer

pytestmark = pytest.mark.timeout(600)

PREFIX = "trainer"


class StoreStack(ProcessStack):
    """A `ProcessStack` whose processes each run in a folder of their own, with a host name
    and a cache of their own; `ARTIFACTS_ROOT` is the bucket."""

    def __init__(self, work: Path, store: StoreServer, corpus: Path, extra: dict[str, str]):
        super().__init__(work, work / "unused", corpus)
        self.env |= store.env | extra | {"ARTIFACTS_ROOT": f"s3://{store.bucket}/{PREFIX}"}

    def home(self, name: str) -> Path:
        return self.work / name

    def cache(self, name: str) -> Path:
        return self.home(name) / "cache"

    def start(self, name: str) -> None:
        if name == "redis":
            super().start(name)
            deadline = time.monotonic() + 60
            while True:  # answering before anything asks it
                try:
                    self.live_workers()
                    return
                except RedisUnavailable:
                    assert time.monotonic() < deadline, "redis did not start"
                    time.sleep(0.05)
        home = self.home(name)
        home.mkdir(exist_ok=True)
        args = [sys.executable, "-m", "model_trainer", "worker"]
        if name == "api":
            args = [sys.executable, "-m", "model_trainer", "api", "--port", str(self.api_port)]
        env = self.env | {"ARTIFACTS_CACHE": str(self.cache(name)), "HOSTNAME": f"host-{name}"}
        with (self.work / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                args, env=env, cwd=home, stdout=log, stderr=log, start_new_session=True
            )


@pytest.fixture()
def store() -> Iterator[StoreServer]:
    server = StoreServer()
    try:
        yield server
    finally:
        server.stop()


def _stack(work: Path, store: StoreServer, extra: dict[str, str]) -> StoreStack:
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / "story.txt").write_text(story(1200, 5), encoding="utf-8")
    return StoreStack(work, store, corpus, extra)


def _tokenizer(stack: ProcessStack) -> str:
    body = TokenizerCreate(
        method=TokenizerMethod.CHAR, vocab_size=100, min_frequency=1, corpus_path="story.txt"
    )
    status, raw = request("POST", stack.base + "/tokenizers/train", body)
    assert status == 202, raw
    tok = TokenizerQueued.model_validate_json(raw).tokenizer_id
    view = stack.wait_tokenizer(tok, {"completed", "failed"}, timeout_s=180)
    assert view.status == "completed", view.message
    return tok


def _run(stack: ProcessStack, tokenizer_id: str, steps: int, checkpoint: int = 25) -> str:
    config = RunConfig(
        model=ModelSpec(size="nano", n_layer=1, n_head=2, n_embd=32, max_seq_len=32),
        data=DataSpec(tokenizer_id=tokenizer_id, corpus_path="story.txt"),
        trainer=TrainerSpec(
            max_steps=steps,
            batch_size=4,
            eval_interval=steps,
            eval_steps=2,
            checkpoint_interval=checkpoint,
            log_interval=5,
            seed=5,
            precision=Precision.FP32,
        ),
    )
    status, raw = request("POST", stack.base + "/runs/train", config)
    assert status == 202, raw
    return RunQueued.model_validate_json(raw).run_id


def _stored_manifest(fs: S3FileSystem, bucket: str, run_id: str) -> RunManifest:
    fs.invalidate_cache()
    key = f"{bucket}/{PREFIX}/models/{run_id}/manifest.json"
    return RunManifest.model_validate_json(fs.cat_file(key))


def _keys(fs: S3FileSystem, bucket: str, folder: str) -> list[str]:
    fs.invalidate_cache()
    base = f"{bucket}/{PREFIX}/{folder}/"
    return sorted(key.removeprefix(base) for key in fs.find(base))


def _whole(fs: S3FileSystem, bucket: str, run_id: str) -> None:
    """Every file the stored manifest names is in the store; nothing temporary is."""
    keys = _keys(fs, bucket, f"models/{run_id}")
    assert set(_stored_manifest(fs, bucket, run_id).artifacts) <= set(keys), keys
    assert not [k for k in keys if any(part.startswith(".") for part in k.split("/"))], keys


def _trainer_of(stack: StoreStack, run_id: str, workers: list[str]) -> str:
    """The worker whose cache holds the run's checkpoints (only the one training it)."""
    found = [w for w in workers if (stack.cache(w) / "models" / run_id / "checkpoints").is_dir()]
    assert len(found) == 1, found
    return found[0]


class _Resumed(BaseModel):
    """The fields of a log record this test reads."""

    event: str
    from_step: int = 0


def _train_steps(stack: ProcessStack, run_id: str) -> list[int]:
    raw = request("GET", f"{stack.base}/runs/{run_id}/metrics")[1]
    return [m.step for m in MetricsPublic.model_validate_json(raw).data if m.kind == "train"]


def test_two_hosts_share_runs_through_the_store(tmp_path: Path, store: StoreServer) -> None:
    stack = _stack(tmp_path, store, {})
    fs = store.client()
    try:
        for name in ("redis", "api"):
            stack.start(name)
        stack.start_worker("worker-a")
        stack.start_worker("worker-b")
        stack.wait_ready()
        tok = _tokenizer(stack)
        assert "manifest.json" in _keys(fs, store.bucket, f"tokenizers/{tok}")

        short = _run(stack, tok, steps=60)
        broken = _run(stack, tok, steps=1500)
        assert stack.wait_run(short, {"completed", "failed"}).status == "completed"
        _trainer_of(stack, short, ["worker-a", "worker-b"])  # one worker trained it, not two
        stack.wait_run(broken, {"completed", "failed"}, at_step=200)
        # a checkpoint reached the store, and the manifest recording it after
        assert _stored_manifest(fs, store.bucket, broken).progress.step >= 25
        first = _trainer_of(stack, broken, ["worker-a", "worker-b"])
        other = "worker-b" if first == "worker-a" else "worker-a"
        stack.kill(first)  # worker and work horse, SIGKILL: no warning, nothing pushed
        final = stack.wait_run(broken, {"completed", "failed"}, timeout_s=400)
        assert final.status == "completed", final.message
    finally:
        stack.stop_all()

    # Each run trained by one worker at a time; the broken one resumed on the other host
    assert (stack.cache(other) / "models" / broken / "checkpoints").is_dir()
    for run_id in (short, broken):
        _whole(fs, store.bucket, run_id)
        stored = _stored_manifest(fs, store.bucket, run_id)
        assert stored.status == "completed" and "export/model.safetensors" in stored.artifacts
    log = fs.cat_file(f"{store.bucket}/{PREFIX}/models/{broken}/logs.jsonl").decode()
    resumed = [_Resumed.model_validate_json(line) for line in log.splitlines()]
    assert [r.from_step for r in resumed if r.event == "run_resuming"][0] > 0


def test_api_serves_lists_and_downloads_from_the_store(tmp_path: Path, store: StoreServer) -> None:
    stack = _stack(tmp_path, store, {})
    fs = store.client()
    try:
        for name in ("redis", "api"):
            stack.start(name)
        stack.start_worker("worker-a")
        stack.wait_ready()
        tok = _tokenizer(stack)
        run_id = _run(stack, tok, steps=40)
        waiting = _run(stack, tok, steps=40)  # behind the first: the API ends it itself
        assert request("POST", f"{stack.base}/runs/{waiting}/cancel")[0] == 200
        assert stack.wait_run(run_id, {"completed", "failed"}).status == "completed"
        assert stack.wait_run(waiting, {"cancelled", "failed"}).status == "cancelled"
        assert _stored_manifest(fs, store.bucket, waiting).status == "cancelled"
        assert _train_steps(stack, run_id)[-1] == 40
        path = "export/config.json"
        status, body = request(
            "GET", f"{stack.base}/artifacts/models/{run_id}/download?path={path}"
        )
        assert status == 200
        assert body == fs.cat_file(f"{store.bucket}/{PREFIX}/models/{run_id}/{path}")
        status, listing = request("GET", f"{stack.base}/artifacts/tokenizers/{tok}")
        assert status == 200 and b"manifest.json" in listing
        status, listing = request("GET", f"{stack.base}/artifacts/models/{run_id}")
        files = ArtifactListing.model_validate_json(listing).files
        assert status == 200 and "checkpoints/last.pt" in [f.path for f in files]
        stored = fs.info(f"{store.bucket}/{PREFIX}/models/{run_id}/checkpoints/last.pt")
        assert [f.bytes for f in files if f.path == "checkpoints/last.pt"] == [stored["size"]]
    finally:
        stack.stop_all()
    assert not (stack.cache("api") / "datasets").exists()  # datasets stay with workers
    # A listing reads the store's own; only what was downloaded came down
    checkpoints = stack.cache("api") / "models" / run_id / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())


QUICK_STORE = {
    "STORE__ATTEMPTS": "2",
    "STORE__FIRST_DELAY_S": "0.1",
    "STORE__MAX_DELAY_S": "0.2",
    "WORKER__TRANSIENT_RETRIES": "50",
    "WORKER__RETRY_BACKOFF_S": "0.2",
}


def test_a_store_away_for_a_while_is_retried_and_leaves_nothing_half_written(
    tmp_path: Path, store: StoreServer
) -> None:
    stack = _stack(tmp_path, store, QUICK_STORE)
    fs = store.client()
    try:
        for name in ("redis", "api"):
            stack.start(name)
        stack.start_worker("worker-a")
        stack.wait_ready()
        tok = _tokenizer(stack)
        run_id = _run(stack, tok, steps=1500, checkpoint=10)
        stack.wait_run(run_id, {"completed", "failed"}, at_step=50)
        store.stop()
        # A read that needs the store answers 503 with the code; the run says it retries
        status, raw = request("GET", f"{stack.base}/artifacts/models/{run_id}")
        assert status == 503, raw
        error = ErrorBody.model_validate_json(raw)
        assert error.code == "STORE_UNAVAILABLE" and error.request_id
        deadline = time.monotonic() + 180
        while True:  # the status in Redis says so; the manifest cannot, with the store away
            run = stack.run(run_id)
            if run is not None and "artifact store did not answer" in (run.message or ""):
                break
            assert time.monotonic() < deadline, run
            time.sleep(0.2)
        assert run.status == "running" and run.message and run.message.startswith("retry ")
        store.start()
        final = stack.wait_run(run_id, {"completed", "failed"}, timeout_s=400)
        assert final.status == "completed", final.message
        assert final.retries >= 1 and final.last_error is not None
        assert final.last_error.code == "STORE_UNAVAILABLE"
    finally:
        stack.stop_all()
    _whole(fs, store.bucket, run_id)
