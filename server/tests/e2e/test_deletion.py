"""Deleting runs and tokenizers through the real stack: refused while anything still needs
them, then gone for good (folder, Redis state, lists), and hostile ids refused plainly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import EvalPublic, RunQueued, RunsPublic
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued, TokenizersPublic
from model_trainer.core.settings import Settings, StoreSettings
from model_trainer.infra.job_state import JobStateStore
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.storage import LocalFolder
from model_trainer.infra.storage.objects import ObjectStorage

from .conftest import run_reaching, trained_tokenizer
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
    run_reaching(api, run_id, {"running"})
    _refused(api, f"/runs/{run_id}", 409, "RUN_ACTIVE")
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    run_reaching(api, run_id, ENDED)
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
    assert run_reaching(api, finished, ENDED).status == "completed"
    # One worker: while a long run trains, what is queued after it waits
    busy = _submit(api, tokenizer, 100_000, "busy")
    run_reaching(api, busy, {"running"})
    queued = api.post(f"/runs/{finished}/evaluate")
    assert queued.status_code == 202, queued.text
    message = _refused(api, f"/runs/{finished}", 409, "RUN_ACTIVE")
    assert "evaluation" in message
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 12}
    response = api.post("/tokenizers/train", json=body)
    waiting = TokenizerQueued.model_validate_json(response.content).tokenizer_id
    _refused(api, f"/tokenizers/{waiting}", 409, "TOKENIZER_ACTIVE")

    assert api.post(f"/runs/{busy}/cancel").status_code == 200
    run_reaching(api, busy, ENDED)
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
        run_reaching(api, run_id, ENDED)
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


def test_an_unreadable_run_holds_off_deleting_its_tokenizer(
    api: TestClient, stack_settings: Settings
) -> None:
    """A run whose manifest cannot be read may use the tokenizer: no deletion on a guess."""
    body = {"method": "char", "vocab_size": 100, "corpus_path": "story.txt", "seed": 14}
    tokenizer_id = trained_tokenizer(api, body).tokenizer_id
    run_id = _submit(api, tokenizer_id, 2, "unreadable")
    run_reaching(api, run_id, ENDED)
    manifest = stack_settings.artifacts_root / "models" / run_id / "manifest.json"
    kept = manifest.read_bytes()
    manifest.write_text('{"run_id": "half a manifest', encoding="utf-8")
    try:
        message = _refused(api, f"/tokenizers/{tokenizer_id}", 409, "TOKENIZER_IN_USE")
        assert run_id in message and "cannot be read" in message
        assert run_id not in _listed(api, tag="unreadable")  # a list leaves it out
    finally:
        manifest.write_bytes(kept + b" ")  # another size: read again at once
    assert api.delete(f"/runs/{run_id}").status_code == 204
    assert api.delete(f"/tokenizers/{tokenizer_id}").status_code == 204


def test_a_deletion_cut_short_is_finished_by_deleting_again(
    api: TestClient, tokenizer: str, stack_settings: Settings, redis: RedisStore
) -> None:
    run_id = _submit(api, tokenizer, 2, "cut-short")
    run_reaching(api, run_id, ENDED)
    models = stack_settings.artifacts_root / "models"
    # As a deletion leaves it when Redis fails once the folder went to the trash
    trash = models / f".deleting-{run_id}-0badf00d"
    (models / run_id).rename(trash)
    # As a process that died while emptying the trash leaves it
    stray = models / ".deleting-run-00000000-00000000-1234abcd"
    (stray / "checkpoints").mkdir(parents=True)
    (stray / "checkpoints" / "last.pt").write_bytes(b"weights")
    assert _redis_knows(redis, "runs", run_id)
    assert api.get(f"/runs/{run_id}").status_code == 404

    assert api.delete(f"/runs/{run_id}").status_code == 204  # the leftovers go
    assert _redis_knows(redis, "runs", run_id) == [] and not trash.exists()
    assert not (models / run_id).exists()
    _refused(api, f"/runs/{run_id}", 404, "NOT_FOUND")  # nothing left: a plain 404
    assert stray.exists()  # not this run's: the next deletion sweeps it

    other = _submit(api, tokenizer, 2, "cut-short")
    run_reaching(api, other, ENDED)
    assert api.delete(f"/runs/{other}").status_code == 204
    assert not stray.exists()
    assert [p.name for p in models.iterdir() if p.name.startswith(".deleting-")] == []


def _eval_status(api: TestClient, run_id: str) -> str:
    return EvalPublic.model_validate_json(api.get(f"/runs/{run_id}/eval").content).status


def test_an_evaluation_is_not_queued_while_its_run_is_being_deleted(
    api: TestClient, tokenizer: str, stack_settings: Settings, redis: RedisStore
) -> None:
    run_id = _submit(api, tokenizer, 2, "leased")
    assert run_reaching(api, run_id, ENDED).status == "completed"
    runs = JobStateStore(redis, "runs")
    deadline = time.monotonic() + 120
    # What a deletion holds while it removes the run (its worker may still be letting go)
    while not runs.acquire_lease(run_id, "a-deletion", 120):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    try:
        response = api.post(f"/runs/{run_id}/evaluate")
        assert response.status_code == 409, response.text
        error = ErrorBody.model_validate_json(response.content)
        assert error.code == "RUN_ACTIVE" and "try again" in error.message
        assert not (stack_settings.artifacts_root / "models" / run_id / "eval").exists()
    finally:
        runs.release_lease(run_id, "a-deletion")

    assert api.post(f"/runs/{run_id}/evaluate").status_code == 202
    while _eval_status(api, run_id) in ("queued", "running"):
        assert time.monotonic() < deadline + 120
        time.sleep(0.2)
    assert api.delete(f"/runs/{run_id}").status_code == 204


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
    assert b.pull(there / "manifest.json") and b.pull(there / "labels.json")  # b shows r1
    (there / "notes.txt").write_text("written on b", encoding="utf-8")  # never pushed

    a.remove_folder(run, first=run / "manifest.json")
    assert b.listing(there) == []
    # b's copies of what the store held go with it; what b wrote itself stays
    assert not b.pull(there / "manifest.json") and not (there / "manifest.json").exists()
    assert not b.pull(there / "labels.json")
    assert b.pull(there / "notes.txt")
    (there / "notes.txt").unlink()
    assert b.pull(b.root / "models" / "r2" / "manifest.json")  # the other run stays
    a.remove_folder(run, first=run / "manifest.json")  # nothing left: nothing to do
    LocalFolder(tmp_path / "c").remove_folder(tmp_path / "c" / "models" / "r2")
