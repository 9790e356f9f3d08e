"""Deleting runs and tokenizers through the real stack: refused while anything still needs
them, then gone for good (folder, Redis state, lists), and hostile ids refused plainly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import EvalPublic, RunPublic, RunQueued, RunsPublic
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued, TokenizersPublic
from model_trainer.core.settings import Settings, StoreSettings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.storage import LocalFolder
from model_trainer.infra.storage.objects import ObjectStorage

from .conftest import trained_tokenizer
from .store_server import StoreServer

pytestmark = pytest.mark.timeout(500)

ENDED = {"completed", "failed", "cancelled"}
FIELDS = ("status", "msg", "hb", "progress", "err", "attempts", "lease")


def _submit(api: TestClient, tokenizer_id: str, steps: int, tag: str) -> str:
    body = {
        "model": {"family": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": steps,
            "batch_size": 4,
            "eval_interval": 5,
            "eval_steps": 2,
            "checkpoint_interval": 5,
            "log_interval": 5,
            "warmup_steps": 1,
        },
        "tags": [tag],
    }
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _wait(api: TestClient, run_id: str, states: set[str], timeout: float = 240) -> RunPublic:
    deadline = time.monotonic() + timeout
    while True:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        if run.status in states:
            return run
        assert time.monotonic() < deadline, f"run stuck in {run.status}: {run.message}"
        time.sleep(0.2)


def _refused(api: TestClient, url: str, status: int, code: str) -> str:
    response = api.delete(url)
    assert response.status_code == status, response.text
    error = ErrorBody.model_validate_json(response.content)
    assert error.code == code and error.request_id
    return error.message


def _listed(api: TestClient, **params: str) -> list[str]:
    runs = RunsPublic.model_validate_json(api.get("/runs", params=params).content)
    return [r.run_id for r in runs.data]


def _redis_knows(store: RedisStore, kind: str, job_id: str) -> list[str]:
    """The keys, index entries and set memberships Redis still has of a job."""
    keys = [f"{kind}:{field}:{job_id}" for field in FIELDS] + [f"{kind}:{job_id}:cancelled"]
    found = [key for key in keys if store.exists(key)]
    if job_id in store.index_newest(f"{kind}:index", 1_000_000):
        found.append(f"{kind}:index")
    if job_id in store.set_members(f"{kind}:active"):
        found.append(f"{kind}:active")
    return found


@pytest.fixture(scope="module")
def redis(redis_url: str) -> Iterator[RedisStore]:
    store = RedisStore(redis_url)
    yield store
    store.close()


@pytest.fixture(scope="module")
def tokenizer(api: TestClient) -> str:
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 11}
    view = trained_tokenizer(api, body)
    assert view.status == "completed", view.message
    return view.tokenizer_id


def test_an_active_run_is_kept_and_an_ended_one_goes_entirely(
    api: TestClient, tokenizer: str, stack_settings: Settings, redis: RedisStore
) -> None:
    run_id = _submit(api, tokenizer, 100_000, "deleting")
    message = _refused(api, f"/runs/{run_id}", 409, "RUN_ACTIVE")  # queued, or running
    assert run_id in message and "cancel" in message
    _wait(api, run_id, {"running"})
    _refused(api, f"/runs/{run_id}", 409, "RUN_ACTIVE")
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    _wait(api, run_id, ENDED)
    folder = stack_settings.artifacts_root / "models" / run_id
    assert (folder / "manifest.json").is_file() and _redis_knows(redis, "runs", run_id)
    rename: dict[str, object] = {"name": "doomed"}
    assert api.patch(f"/runs/{run_id}", json=rename).status_code == 200

    response = api.delete(f"/runs/{run_id}")
    assert response.status_code == 204 and response.content == b""
    assert not folder.exists()
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".deleting-")]
    assert leftovers == []
    assert _redis_knows(redis, "runs", run_id) == []
    assert api.get(f"/runs/{run_id}").status_code == 404
    assert run_id not in _listed(api) and run_id not in _listed(api, tag="deleting")
    assert run_id not in _listed(api, sort="oldest", limit="1000")
    _refused(api, f"/runs/{run_id}", 404, "NOT_FOUND")
    assert api.patch(f"/runs/{run_id}", json=rename).status_code == 404
    assert not folder.exists()  # the refused edit made nothing again


def test_evaluations_and_tokenizer_jobs_hold_off_deletion(
    api: TestClient, tokenizer: str, stack_settings: Settings, redis: RedisStore
) -> None:
    finished = _submit(api, tokenizer, 5, "evaluated")
    assert _wait(api, finished, ENDED).status == "completed"
    # One worker: while a long run trains, what is queued after it waits
    busy = _submit(api, tokenizer, 100_000, "busy")
    _wait(api, busy, {"running"})
    queued = api.post(f"/runs/{finished}/evaluate")
    assert queued.status_code == 202, queued.text
    message = _refused(api, f"/runs/{finished}", 409, "RUN_ACTIVE")
    assert "evaluation" in message
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 12}
    response = api.post("/tokenizers/train", json=body)
    waiting = TokenizerQueued.model_validate_json(response.content).tokenizer_id
    _refused(api, f"/tokenizers/{waiting}", 409, "TOKENIZER_ACTIVE")

    assert api.post(f"/runs/{busy}/cancel").status_code == 200
    _wait(api, busy, ENDED)
    deadline = time.monotonic() + 240
    while EvalPublic.model_validate_json(api.get(f"/runs/{finished}/eval").content).status in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    eval_id = EvalPublic.model_validate_json(api.get(f"/runs/{finished}/eval").content).eval_id
    assert eval_id is not None
    assert api.delete(f"/runs/{finished}").status_code == 204
    assert _redis_knows(redis, "evals", f"{finished}_{eval_id}") == []
    assert not (stack_settings.artifacts_root / "models" / finished).exists()
    assert api.delete(f"/runs/{busy}").status_code == 204

    while TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{waiting}").content).status in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert api.delete(f"/tokenizers/{waiting}").status_code == 204


def test_a_tokenizer_in_use_is_kept_until_its_runs_are_deleted(
    api: TestClient, stack_settings: Settings, redis: RedisStore
) -> None:
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 13}
    tokenizer_id = trained_tokenizer(api, body).tokenizer_id
    runs = [_submit(api, tokenizer_id, 2, "users") for _ in range(6)]
    message = _refused(api, f"/tokenizers/{tokenizer_id}", 409, "TOKENIZER_IN_USE")
    assert "6 runs" in message and "and 1 more" in message
    assert sum(run_id in message for run_id in runs) == 5
    for run_id in runs:
        _wait(api, run_id, ENDED)
    _refused(api, f"/tokenizers/{tokenizer_id}", 409, "TOKENIZER_IN_USE")
    for run_id in runs[1:]:
        assert api.delete(f"/runs/{run_id}").status_code == 204
    message = _refused(api, f"/tokenizers/{tokenizer_id}", 409, "TOKENIZER_IN_USE")
    assert runs[0] in message and "1 run uses" in message
    assert api.delete(f"/runs/{runs[0]}").status_code == 204

    assert api.delete(f"/tokenizers/{tokenizer_id}").status_code == 204
    assert not (stack_settings.artifacts_root / "tokenizers" / tokenizer_id).exists()
    assert _redis_knows(redis, "tokenizers", tokenizer_id) == []
    assert api.get(f"/tokenizers/{tokenizer_id}").status_code == 404
    listed = TokenizersPublic.model_validate_json(api.get("/tokenizers").content)
    assert tokenizer_id not in [t.tokenizer_id for t in listed.data]
    text: dict[str, object] = {"text": "the king"}
    encode = api.post(f"/tokenizers/{tokenizer_id}/encode", json=text)
    assert encode.status_code == 404
    _refused(api, f"/tokenizers/{tokenizer_id}", 404, "NOT_FOUND")


@pytest.mark.parametrize("kind", ["runs", "tokenizers"])
def test_hostile_ids_are_refused_plainly(
    api: TestClient, kind: str, stack_settings: Settings
) -> None:
    root = stack_settings.artifacts_root
    before = sorted(p.name for p in root.iterdir()), sorted(p.name for p in root.glob("*/*"))
    for odd in (
        "..%2F..%2Fetc",
        "%2E%2E",
        "run-00000000-00000000",
        "tok-00000000-00000000",
        "run-%00-x",
        "%E2%80%AE%F0%9F%92%A5",
        "a" * 5000,
    ):
        response = api.delete(f"/{kind}/{odd}")
        assert response.status_code == 404, (odd, response.text)
        error = ErrorBody.model_validate_json(response.content)
        assert error.code == "NOT_FOUND" and error.request_id and len(error.message) < 300
    after = sorted(p.name for p in root.iterdir()), sorted(p.name for p in root.glob("*/*"))
    assert after == before


@pytest.fixture()
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreServer]:
    server = StoreServer()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    try:
        yield server
    finally:
        server.stop()


def test_a_shared_store_forgets_a_removed_folder(tmp_path: Path, store: StoreServer) -> None:
    """What one host removes from the store no other host lists or pulls back."""
    url, quick = f"s3://{store.bucket}/deleting", StoreSettings(attempts=2, first_delay_s=0.05)
    a = ObjectStorage(url, tmp_path / "a", quick)
    b = ObjectStorage(url, tmp_path / "b", quick)
    run = a.root / "models" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"weights")
    (run / "labels.json").write_text('{"tags": []}', encoding="utf-8")
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    (a.root / "models" / "r2").mkdir()
    (a.root / "models" / "r2" / "manifest.json").write_text("{}", encoding="utf-8")
    a.push_folder(run, last=run / "manifest.json")
    a.push([a.root / "models" / "r2" / "manifest.json"])
    there = b.root / "models" / "r1"
    assert b.listing(there) == [
        ("checkpoints/last.pt", 7),
        ("labels.json", 12),
        ("manifest.json", 2),
    ]

    a.remove_folder(run, first=run / "manifest.json")
    assert b.listing(there) == []
    assert not b.pull(there / "manifest.json")
    assert b.folders(b.root / "models") == ["r2"]  # the other run stays
    a.remove_folder(run, first=run / "manifest.json")  # nothing left: nothing to do
    LocalFolder(tmp_path / "c").remove_folder(tmp_path / "c" / "models" / "r2")
