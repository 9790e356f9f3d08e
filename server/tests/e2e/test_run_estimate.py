"""`POST /runs/estimate` through the real stack: the same admission as a submission, every
installed family, refusals answered as `fits: false`, bad bodies refused, nothing recorded;
and a run's model FLOPs utilisation against the peak its worker measured at start."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.common import ErrorBody
from model_trainer.api.schemas.runs import MetricsPublic, RunEstimatePublic, RunPublic, RunQueued
from model_trainer.core.settings import Settings
from model_trainer.infra.redis_store import RedisStore
from model_trainer.infra.workers import WorkerDirectory
from model_trainer.plugins.gpt2 import Gpt2Backend
from model_trainer.training.model_registry import discover_models
from model_trainer.training.run.budget import STATE_BYTES_PER_PARAMETER

from .conftest import run_reaching
from .test_runs_api import TINY_MODEL, _start, char_tokenizer

__all__ = ["char_tokenizer"]  # the fixture, shared with test_runs_api

pytestmark = pytest.mark.timeout(300)

FAMILIES = sorted(r.name for r in discover_models({}).records() if r.status == "ok")


def _body(tokenizer_id: str, model: dict[str, object], **trainer: object) -> dict[str, object]:
    return {
        "model": model,
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {"max_steps": 10, "batch_size": 4, "grad_accum_steps": 2, **trainer},
    }


def _estimate(api: TestClient, body: dict[str, object]) -> RunEstimatePublic:
    response = api.post("/runs/estimate", json=body)
    assert response.status_code == 200, response.text
    return RunEstimatePublic.model_validate_json(response.content)


def _first_size(family: str) -> str:
    return next(iter(discover_models({}).get(family).sizes()))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_estimated_against_the_live_worker(
    api: TestClient, char_tokenizer: str, family: str
) -> None:
    model: dict[str, object] = {"family": family, "size": _first_size(family), "max_seq_len": 32}
    e = _estimate(api, _body(char_tokenizer, model))
    assert e.fits and e.code is None and e.reason is None, e.reason
    assert e.family == family == e.architecture.family and e.architecture.max_seq_len == 32
    assert e.architecture.vocab_size > 0 and e.parameters > 0
    assert e.flops_per_token > e.parameters  # forward and backward
    assert e.tokens_per_step == 4 * 2 * 32
    m, b = e.memory, e.budget
    assert m.state_bytes == STATE_BYTES_PER_PARAMETER * e.parameters
    assert m.total_bytes == m.state_bytes + m.activation_bytes + m.overhead_bytes
    assert 0 < m.total_bytes <= b.budget_bytes
    assert b.worker is not None and b.device in ("cpu", "cuda", "mps")
    assert b.budget_bytes == int(b.device_memory_bytes * b.memory_fraction)


def test_the_estimate_is_what_a_submission_then_records(
    api: TestClient, char_tokenizer: str
) -> None:
    body = _body(char_tokenizer, dict(TINY_MODEL))
    e = _estimate(api, body)
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    run_id = RunQueued.model_validate_json(response.content).run_id
    try:
        run = RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)
        assert run.parameters == e.parameters and run.architecture == e.architecture
    finally:
        api.post(f"/runs/{run_id}/cancel")


def test_refusals_are_answered_as_not_fitting(api: TestClient, char_tokenizer: str) -> None:
    huge = TINY_MODEL | {"n_layer": 1, "n_head": 1, "n_embd": 8192, "max_seq_len": 32768}
    memory = _estimate(api, _body(char_tokenizer, huge, grad_accum_steps=1))
    assert not memory.fits and memory.code == "MEMORY_LIMIT_EXCEEDED"
    assert memory.reason is not None and "GiB" in memory.reason
    assert memory.memory.total_bytes > memory.budget.budget_bytes > 0
    many = TINY_MODEL | {"n_layer": 96, "n_head": 96, "n_embd": 12288}
    too_big = _estimate(api, _body(char_tokenizer, many))
    assert too_big.code == "PARAMETER_LIMIT_EXCEEDED" and too_big.parameters > 10**10
    step = _body(char_tokenizer, TINY_MODEL | {"max_seq_len": 32768}, batch_size=4096)
    step["trainer"] = {"batch_size": 4096, "grad_accum_steps": 1024}
    tokens = _estimate(api, step)
    assert tokens.code == "TOKENS_PER_STEP_LIMIT_EXCEEDED" and tokens.tokens_per_step == 2**37
    mps = _estimate(api, _body(char_tokenizer, dict(TINY_MODEL), device="mps"))
    if not mps.fits:
        assert mps.code == "DEVICE_UNAVAILABLE" and mps.budget.budget_bytes == 0
    cuda = _estimate(api, _body(char_tokenizer, dict(TINY_MODEL), device="cuda"))
    if cuda.fits:
        pytest.skip("a live worker here serves CUDA")
    # Not refused: a submission would wait on CUDA's queue for a worker that serves it.
    assert cuda.code == "NO_LIVE_WORKER" and cuda.budget.budget_bytes == 0
    assert cuda.reason is not None and "no live worker serves cuda" in cuda.reason


def test_bad_bodies_are_refused_and_nothing_is_recorded_or_built(
    api: TestClient,
    char_tokenizer: str,
    stack_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*_args: object) -> None:
        raise AssertionError("an estimate built a model")

    monkeypatch.setattr(Gpt2Backend, "build", never)  # the API's own plugin instance
    models = stack_settings.artifacts_root / "models"
    before = set(models.iterdir()) if models.is_dir() else set()
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"model": TINY_MODEL | {"size": "galactic"}}, 422, "CONFIG_INVALID"),
        ({"model": TINY_MODEL | {"n_embd": 30, "n_head": 4}}, 422, "CONFIG_INVALID"),
        ({"trainer": {"max_steps": 0}}, 422, "CONFIG_INVALID"),
        ({"data": {"tokenizer_id": "tok-00000000-00000000", "corpus_path": "story.txt"}}, 404,
         "TOKENIZER_NOT_FOUND"),
        ({"data": {"tokenizer_id": char_tokenizer, "corpus_path": "../x"}}, 400,
         "PATH_OUTSIDE_ROOT"),
    ]  # fmt: skip
    for patch, status, code in cases:
        body = _body(char_tokenizer, dict(TINY_MODEL)) | patch
        response = api.post("/runs/estimate", json=body)
        assert response.status_code == status, response.text
        error = ErrorBody.model_validate_json(response.content)
        assert error.code == code and error.message and error.request_id
    for _ in range(3):
        assert _estimate(api, _body(char_tokenizer, dict(TINY_MODEL))).fits
    assert (set(models.iterdir()) if models.is_dir() else set()) == before


def test_the_worker_measured_its_peak_and_a_run_reports_its_mfu(
    api: TestClient, char_tokenizer: str, stack_settings: Settings
) -> None:
    store = RedisStore(stack_settings.redis_url)
    try:
        workers = WorkerDirectory(store, stack_settings.worker.heartbeat_ttl_s).live()
    finally:
        store.close()
    assert workers and all(w.peak_flops.get("cpu-fp32", 0) > 0 for w in workers)
    run_id = _start(api, char_tokenizer, 10)
    run = run_reaching(api, run_id, {"completed", "failed", "cancelled"}, timeout=180)
    assert run.status == "completed", run.message
    assert run.device is not None and run.device.peak_flops is not None
    assert math.isfinite(run.device.peak_flops) and run.device.peak_flops > 0
    metrics = MetricsPublic.model_validate_json(api.get(f"/runs/{run_id}/metrics").content)
    mfus = [m.mfu for m in metrics.data if m.kind == "train"]
    assert mfus and all(u is not None and 0 < u <= 1 for u in mfus), mfus
    assert run.progress.mfu is not None and 0 < run.progress.mfu <= 1
