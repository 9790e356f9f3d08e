"""Live state of jobs through the real stack: a run's phase as it trains and finalises, and
the place in the queue of jobs that wait while the worker is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from fastapi.testclient import TestClient

from model_trainer.api.schemas.runs import EvalPublic, EvalQueued, RunPublic, RunQueued
from model_trainer.api.schemas.tokenizers import TokenizerPublic, TokenizerQueued
from model_trainer.infra.redis_store import RedisStore
from model_trainer.training.run.events import (
    EVENT_ADAPTER,
    TrainCompleted,
    TrainFailed,
    TrainProgress,
    run_channel,
)

from .conftest import trained_tokenizer

pytestmark = pytest.mark.timeout(1500)

V = TypeVar("V")
PHASES = {"preparing", "training", "evaluating", "finalising"}
STEPS = 120


def _tokenizer_body() -> dict[str, object]:
    return {"method": "char", "vocab_size": 100, "min_frequency": 1, "corpus_path": "story.txt"}


def _run_body(tokenizer_id: str, max_steps: int) -> dict[str, object]:
    return {
        "model": {"size": "nano", "n_layer": 1, "n_head": 2, "n_embd": 32, "max_seq_len": 32},
        "data": {"tokenizer_id": tokenizer_id, "corpus_path": "story.txt"},
        "trainer": {
            "max_steps": max_steps,
            "batch_size": 4,
            "eval_interval": 40,
            "eval_steps": 1,
            "checkpoint_interval": 40,
            "log_interval": 10,
        },
    }


def _submit(api: TestClient, body: dict[str, object]) -> str:
    response = api.post("/runs/train", json=body)
    assert response.status_code == 202, response.text
    return RunQueued.model_validate_json(response.content).run_id


def _run(api: TestClient, run_id: str) -> RunPublic:
    return RunPublic.model_validate_json(api.get(f"/runs/{run_id}").content)


def _until(read: Callable[[], V], done: Callable[[V], bool]) -> V:
    """Read until `done` says so (no timing is asserted: the deadline only ends a hang)."""
    deadline = time.monotonic() + 1200
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, value
        time.sleep(0.05)


class Finished:
    """A run followed to its end: the progress events heard, and the phases polled."""

    def __init__(self, run_id: str, events: list[TrainProgress], polled: set[str | None]):
        self.run_id = run_id
        self.events = events
        self.polled = polled


def _listen(store: RedisStore, run_id: str, heard: list[TrainProgress]) -> None:
    """The run's progress events, until it completes or fails."""
    for raw in store.subscribe(run_channel(run_id), timeout_s=1200):
        event = EVENT_ADAPTER.validate_json(raw)
        if isinstance(event, TrainProgress):
            heard.append(event)
        if isinstance(event, TrainCompleted | TrainFailed):
            return


@pytest.fixture(scope="module")
def tokenizer_id(api: TestClient) -> str:
    view = trained_tokenizer(api, _tokenizer_body())
    assert view.status == "completed", view.message
    return view.tokenizer_id


@pytest.fixture(scope="module")
def finished(api: TestClient, redis_url: str, tokenizer_id: str) -> Finished:
    store = RedisStore(redis_url)
    heard: list[TrainProgress] = []
    polled: set[str | None] = set()
    run_id = _submit(api, _run_body(tokenizer_id, STEPS))
    # Subscribed while it prepares: no progress event comes before it trains
    listener = threading.Thread(target=_listen, args=(store, run_id, heard), daemon=True)
    listener.start()

    def poll() -> RunPublic:
        run = _run(api, run_id)
        if run.status == "running":
            polled.add(run.progress.phase)
        return run

    final = _until(poll, lambda run: run.status in ("completed", "failed", "cancelled"))
    assert final.status == "completed", final.message
    listener.join(timeout=60)
    store.close()
    assert final.progress.phase is None  # an ended run is in no phase
    return Finished(run_id, heard, polled)


def test_progress_shows_the_phase_from_training_to_finalising(finished: Finished) -> None:
    phases = [event.phase for event in finished.events]
    assert "training" in phases  # mid-run
    last = finished.events[-1]
    assert last.step == STEPS and last.phase == "finalising" and last.eta_s is None
    # Every evaluation step is reported as the evaluation that follows it
    assert {e.step for e in finished.events if e.phase == "evaluating"} == {40, 80}
    assert finished.polled <= PHASES  # never none while it runs


def test_waiting_jobs_show_their_place_in_the_queue(
    api: TestClient, tokenizer_id: str, finished: Finished
) -> None:
    busy = _submit(api, _run_body(tokenizer_id, 1_000_000))
    _until(lambda: _run(api, busy), lambda run: run.progress.step > 0)
    waiting = _submit(api, _run_body(tokenizer_id, 30))
    made = api.post("/tokenizers/train", json=_tokenizer_body())
    tokenizer = TokenizerQueued.model_validate_json(made.content).tokenizer_id
    split: dict[str, str] = {"split": "val"}
    asked = api.post(f"/runs/{finished.run_id}/evaluate", json=split)
    assert EvalQueued.model_validate_json(asked.content).status == "queued"

    # Named once the worker's state is read (workers of earlier tests may linger a while)
    run = _until(
        lambda: _run(api, waiting),
        lambda run: run.queue is not None and busy in run.queue.waiting_for,
    )
    assert run.status == "queued" and run.queue is not None
    assert run.queue.position == run.queue.ahead + 1
    assert "busy with" in run.queue.waiting_for and "1 live" in run.queue.waiting_for
    tok = TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer}").content)
    assert tok.status == "queued" and tok.queue is not None
    assert tok.queue.position > run.queue.position  # queued after it, on the same queue
    evaluation = EvalPublic.model_validate_json(api.get(f"/runs/{finished.run_id}/eval").content)
    assert evaluation.status == "queued" and evaluation.queue is not None
    assert evaluation.queue.position > tok.queue.position

    assert api.post(f"/runs/{busy}/cancel").status_code == 200
    started = _until(lambda: _run(api, waiting), lambda run: run.status != "queued")
    assert started.queue is None  # running (or done): it waits no more
    _until(lambda: _run(api, waiting), lambda run: run.status == "completed")
    done = _until(
        lambda: TokenizerPublic.model_validate_json(api.get(f"/tokenizers/{tokenizer}").content),
        lambda view: view.status in ("completed", "failed"),
    )
    assert done.status == "completed" and done.queue is None
    ended = _until(
        lambda: EvalPublic.model_validate_json(api.get(f"/runs/{finished.run_id}/eval").content),
        lambda view: view.status in ("completed", "failed"),
    )
    assert ended.status == "completed" and ended.queue is None
