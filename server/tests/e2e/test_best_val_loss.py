"""A run's best val loss through the real stack: `GET /runs/{id}` gives it (and its step)
while the run trains, after its evaluations, and the loop's final figure agrees with it."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.runs import MetricsPublic, RunPublic, RunQueued

from .conftest import run_reaching, trained_tokenizer

pytestmark = pytest.mark.timeout(900)

EVAL_INTERVAL = 20
ENDLESS = 1_000_000
"""Steps the run never reaches here: it trains until the test cancels it."""


def _run_body(tokenizer_id: str) -> dict[str, object]:
    return {
        "model": {"size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": ENDLESS,
            "batch_size": 4,
            "eval_interval": EVAL_INTERVAL,
            "eval_steps": 1,
            "checkpoint_interval": EVAL_INTERVAL,
            "log_interval": 5,
        },
    }


def _run(api: TestClient, run_id: str) -> RunPublic:
    return RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)


def _past_two_evaluations(api: TestClient, run_id: str) -> RunPublic:
    """The run once its progress is past its second evaluation after step 0 (the deadline
    only ends a hang; no timing is asserted)."""
    deadline = time.monotonic() + 600
    while True:
        run = _run(api, run_id)
        if run.status == "running" and run.progress.step > 2 * EVAL_INTERVAL:
            return run
        assert run.status in ("queued", "running"), run.message
        assert time.monotonic() < deadline, f"run at step {run.progress.step}: {run.message}"
        time.sleep(0.1)


def _evaluations(api: TestClient, run_id: str) -> list[tuple[int, float]]:
    page = MetricsPublic.model_validate_json(api.get(f"/runs/{run_id}/metrics").content)
    return [(r.step, r.val_loss) for r in page.data if r.kind == "eval" and r.val_loss is not None]


def _lowest(evaluations: list[tuple[int, float]], before: int) -> tuple[float, int]:
    """The first lowest val loss after step 0 and before `before`, as the loop keeps it."""
    best: tuple[float, int] | None = None
    for step, val_loss in evaluations:
        if 0 < step < before and (best is None or val_loss < best[0]):
            best = (val_loss, step)
    assert best is not None, evaluations
    return best


def test_the_best_val_loss_shows_while_the_run_trains(api: TestClient) -> None:
    body = {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": "story.txt"}
    tokenizer = trained_tokenizer(api, body)
    assert tokenizer.status == "completed", tokenizer.message
    queued = api.post("/runs/train", json=_run_body(tokenizer.tokenizer_id))
    assert queued.status_code == 202, queued.text
    run_id = RunQueued.model_validate_json(queued.content).run_id
    # The progress (in Redis) is past the evaluation at 40: the reporter wrote the manifest
    # with it before training on. A read after that one reads that manifest or a later one.
    reached = _past_two_evaluations(api, run_id).progress.step
    run = _run(api, run_id)
    assert run.status == "running", run.message  # a million steps: far from their end
    best, step = run.metrics.best_val_loss, run.metrics.best_step
    assert best is not None and step is not None, run.metrics
    evaluations = _evaluations(api, run_id)  # the records are written before the manifest
    seen = dict(evaluations)
    assert seen[step] == best and step % EVAL_INTERVAL == 0 and step > 0
    assert best <= _lowest(evaluations, reached)[0]  # no better one before the step reached
    assert best == _lowest(evaluations, step + 1)[0]
    # cancelled, the run ends with the loop's own figure: the lowest of all its evaluations
    assert api.post(f"/runs/{run_id}/cancel").status_code == 200
    ended = run_reaching(api, run_id, {"cancelled", "failed", "completed"})
    assert ended.status == "cancelled", ended.message
    final = (ended.metrics.best_val_loss, ended.metrics.best_step)
    assert final == _lowest(_evaluations(api, run_id), ENDLESS)
    assert final[0] is not None and final[0] <= best
